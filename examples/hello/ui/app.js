// The hello extension's UI: plain JavaScript on window.ddClient, no build step.
const ddClient = window.ddClient;

function show(id, text) {
  document.getElementById(id).textContent = text;
}

async function loadMessage() {
  try {
    const reply = await ddClient.extension.vm.service.get('/hello');
    show('backend-message', reply.message);
  } catch (e) {
    const err = document.getElementById('backend-error');
    err.hidden = false;
    err.textContent = `The backend call failed: ${e.message}${e.statusCode ? ` (${e.statusCode})` : ''}`;
    show('backend-message', '(no answer)');
  }
}

document.getElementById('greet-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = document.getElementById('name').value;
  try {
    const reply = await ddClient.extension.vm.service.post('/greet', { name });
    show('greet-reply', reply.greeting);
  } catch (e) {
    show('greet-reply', `Failed: ${e.message}`);
  }
});

document.getElementById('toast-button').addEventListener('click', () => {
  ddClient.desktopUI.toast.success('Hello from dext');
});

const { platform, arch, hostname } = ddClient.host;
show('host-info', `Running on ${platform}/${arch}, host ${hostname}.`);
loadMessage();
