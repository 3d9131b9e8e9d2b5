/** `npm run docs [-- --check]`: docs/configuration.md's tables, rendered from the config schema (scripts/docs/docs.ts). */
import { cli } from "./docs/docs";

cli();
