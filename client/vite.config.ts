import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { compression, defineAlgorithm } from 'vite-plugin-compression2';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const simplePeerDir = dirname(require.resolve('simple-peer/package.json'));

export default defineConfig({
  root: here,
  // relative asset URLs: the build works under any path the server mounts it at
  base: './',
  plugins: [
    react(),
    // .gz and .br copies beside each asset; the signaling server sends the one a browser accepts
    // (signaling/src/static-files.ts). Measured on the 28 MB onnxruntime wasm: brotli quality 7
    // gives 4.7 MB in ~4 s (11 takes over a minute for 2% less), gzip level 6 6.7 MB in ~1 s.
    compression({
      include: /\.(js|mjs|css|html|wasm|svg|json|map)$/,
      threshold: 1024,
      skipIfLargerOrEqual: true,
      algorithms: [defineAlgorithm('gzip', { level: 6 }), defineAlgorithm('brotliCompress', { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 7 } })],
      logLevel: 'silent',
    }),
  ],
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
    // the build writes real .gz/.br copies (above); estimating gzip sizes again is wasted time
    reportCompressedSize: false,
    // compressing the wasm above is seconds of work by design, not a slow plugin to report
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: { fs: { allow: [join(here, '..')] } },
});
