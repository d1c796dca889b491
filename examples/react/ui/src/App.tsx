import React from 'react';
import { createDockerDesktopClient } from '@docker/extension-api-client';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';

// The client is the host's window.ddClient; outside a host this throws, as it does
// in Docker Desktop.
const ddClient = createDockerDesktopClient();

// One line of `docker ps --format "{{json .}}"`.
interface PsLine {
  ID: string;
  Names: string;
  Image: string;
  State: string;
}

function message(e: unknown): string {
  if (e && typeof e === 'object') {
    const err = e as { message?: string; stderr?: string };
    return err.stderr || err.message || JSON.stringify(e);
  }
  return String(e);
}

export function App() {
  const [reply, setReply] = React.useState<string>('');
  const [containers, setContainers] = React.useState<PsLine[] | null>(null);
  const [engineCount, setEngineCount] = React.useState<number | null>(null);
  const [error, setError] = React.useState<string>('');

  const callBackend = async () => {
    setError('');
    try {
      const result = await ddClient.extension.vm?.service?.get('/hello');
      setReply(JSON.stringify(result));
    } catch (e) {
      setError(`The backend call failed: ${message(e)}`);
    }
  };

  const listContainers = async () => {
    setError('');
    try {
      // The docker CLI on the host, as documented for docker.cli.exec...
      const ps = await ddClient.docker.cli.exec('ps', ['--all', '--format', '"{{json .}}"']);
      setContainers(ps.parseJsonLines() as PsLine[]);
      // ...and the Engine API through the host.
      const list = (await ddClient.docker.listContainers({ all: true })) as unknown[];
      setEngineCount(list.length);
      ddClient.desktopUI.toast.success(`${list.length} containers`);
    } catch (e) {
      setError(`The docker call failed: ${message(e)}`);
    }
  };

  return (
    <Stack spacing={3} sx={{ p: 3 }}>
      <div>
        <Typography variant="h3" component="h1">
          React example
        </Typography>
        <Typography variant="body1" color="text.secondary" sx={{ mt: 1 }}>
          A Vite + React + MUI extension UI on @docker/extension-api-client, themed by
          @docker/docker-mui-theme.
        </Typography>
      </div>

      {error && (
        <Alert severity="error" data-testid="error">
          {error}
        </Alert>
      )}

      <Stack direction="row" spacing={2} alignItems="flex-start">
        <Button variant="contained" onClick={callBackend} data-testid="call-backend">
          Call backend
        </Button>
        <TextField
          label="Backend response"
          value={reply}
          multiline
          minRows={2}
          sx={{ flex: 1 }}
          inputProps={{ readOnly: true, 'data-testid': 'backend-reply' }}
        />
      </Stack>

      <Stack direction="row" spacing={2} alignItems="center">
        <Button variant="outlined" onClick={listContainers} data-testid="list-containers">
          List containers
        </Button>
        {engineCount !== null && (
          <Typography data-testid="engine-count">
            The Engine API lists {engineCount} containers.
          </Typography>
        )}
      </Stack>

      {containers && (
        <Table size="small" data-testid="containers">
          <TableHead>
            <TableRow>
              <TableCell>Name</TableCell>
              <TableCell>Image</TableCell>
              <TableCell>State</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {containers.map((c) => (
              <TableRow key={c.ID}>
                <TableCell>{c.Names}</TableCell>
                <TableCell>{c.Image}</TableCell>
                <TableCell>{c.State}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Stack>
  );
}
