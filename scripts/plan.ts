/** `npm run plan -- <forensic|security> [--json] [--config FILE]`: resources and idle monthly cost of a stack (plan/plan.ts). */
import { cli } from "./plan/plan";

cli();
