import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const simplePeerDir = dirname(require.resolve('simple-peer/package.json'));

export default defineConfig({
  root: here,
  // relative asset URLs: the build works under any path the server mounts it at
  base: './',
  plugins: [react()],
  resolve: {
    alias: [
      // simple-peer's sources need Node's Buffer/stream/process; its prebuilt browser bundle does not
      { find: /^simple-peer$/, replacement: join(simplePeerDir, 'simplepeer.min.js') },
    ],
  },
  define: { global: 'globalThis' },
  optimizeDeps: {
    // onnxruntime-web finds its .wasm with new URL(..., import.meta.url); pre-bundling would break
    // that in dev, while the build emits the file as an asset next to the worker chunk
    exclude: ['onnxruntime-web'],
  },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
  },
  server: { fs: { allow: [join(here, '..')] } },
});
