import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Relative asset paths: the bundle is served from the extension's UI root, whatever
// origin the host gives it. `npm run dev` serves the same UI for `dext dev ui-source`.
export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: 'build',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    port: 3000,
    strictPort: true,
  },
});
