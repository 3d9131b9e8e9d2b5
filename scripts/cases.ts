/** `npm run cases -- <list|show|release> [case-id] [options]`: the responder's case commands (cases/cases.ts). */
import { cli } from "./cases/cases";

cli();
