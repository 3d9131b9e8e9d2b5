/** `npm run lab -- [options]`: real tools (a kernel in QEMU, LiME, AVML, Volatility 3) meet the project's scripts (lab/lab.ts). */
import { cli } from "./lab/lab";

cli();
