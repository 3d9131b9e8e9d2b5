/** `npm run bench -- [sections] [options]`: figures, never assertions (sections and options: bench/bench.ts). */
import { cli } from "./bench/bench";

cli();
