/** `npm run verify -- <case-id> --bucket <evidence bucket>`: the chain-of-custody check of a case (verify/verify.ts). */
import { cli } from "./verify/verify";

cli();
