/** `npm run moto`: the emulator's moto server on a free 127.0.0.1 port, until Ctrl-C (emulator/aws/moto.ts). */
import { cli } from "../emulator/aws/moto";

cli();
