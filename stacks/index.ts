// Entry point of the Pulumi program (package.json "main"): the stack's role picks what it deploys.
import { main } from "./program";

export = main();
