// Builds the dashboard (ui/) into dist/ui, served by the gateway at /ui (src/server/ui.ts).
// Output is plain files with hashed names under assets/: no inline script or style (the page's
// Content-Security-Policy forbids both), no modulepreload polyfill (it would be inline code).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    // Never inline assets as data: URIs: everything is a file the CSP allows as 'self'.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 200,
  },
  logLevel: 'warn',
});
