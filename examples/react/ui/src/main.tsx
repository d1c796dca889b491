import React from 'react';
import ReactDOM from 'react-dom/client';
import CssBaseline from '@mui/material/CssBaseline';
import { DockerMuiV5ThemeProvider } from '@docker/docker-mui-theme';

import { App } from './App';

// The theme provider reads the theme options the host puts on window
// (__ddMuiV5Themes) and follows the page's light or dark colour scheme.
ReactDOM.createRoot(document.getElementById('root')!).render(
  <React.StrictMode>
    <DockerMuiV5ThemeProvider>
      <CssBaseline />
      <App />
    </DockerMuiV5ThemeProvider>
  </React.StrictMode>,
);
