import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The built files (dist/) are embedded into the `cairn` binary and served at
// `/` under a strict Content-Security-Policy (script-src 'self'; style-src
// 'self'): no inline scripts or styles may end up in index.html, so the
// module-preload polyfill (an inline helper in some setups) is off and the
// assets are plain files with content hashes in their names.
export default defineConfig({
  plugins: [preact({ prerender: { enabled: false } })],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev` serves the sources with hot reload and sends the API to
    // the mock (npm run mock) or to a real `cairn serve`.
    proxy: { '/api': { target: process.env.CAIRN_URL || 'http://127.0.0.1:8421', changeOrigin: false } },
  },
});
