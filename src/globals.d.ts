/** Default Hub URL, set at build time from LORAFUSE_HUB_URL (vite.config.ts). */
declare const __LORAFUSE_HUB_URL__: string;
