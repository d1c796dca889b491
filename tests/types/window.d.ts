/* SPDX-License-Identifier: MIT */
/* Binds what src/ui/ddclient.js assigns to window.ddClient to the published type:
 * with checkJs, tsc checks that assignment against DockerDesktopClient (v1 + v0 hybrid)
 * of @docker/extension-api-client-types, so a missing or mis-shaped member fails. */
import type { DockerDesktopClient } from '@docker/extension-api-client-types/dist/v1Hybrid';
import type { Exec } from '@docker/extension-api-client-types/dist/v1';

declare global {
  /* The types name NodeJS.ProcessEnv for exec's env; a browser page has no @types/node. */
  namespace NodeJS {
    interface ProcessEnv {
      [key: string]: string | undefined;
    }
  }
  type DextExec = Exec;
  interface Window {
    ddClient: DockerDesktopClient;
    __dextConfig: any;
    __ddMuiV5Themes: unknown;
    __ddMuiV6Themes: unknown;
  }
}
