/** `npm run drill -- [options]`: the real response rehearsed on the emulator (options and steps: drill/drill.ts). */
import { cli } from "./drill/drill";

cli();
