/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** signaling server base URL when the page is not served by it (vite dev) */
  readonly VITE_SIGNALING_URL?: string;
}
