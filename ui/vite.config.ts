import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The single-node server serves ui/dist at `/`; the dev server proxies `/api` to it. */
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: process.env.TRADECORE_API ?? 'http://127.0.0.1:8080', changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      '/api': { target: process.env.TRADECORE_API ?? 'http://127.0.0.1:8080', changeOrigin: false },
    },
  },
});
