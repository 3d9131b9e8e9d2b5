/**
 * npm run bootstrap-template: writes bootstrap/member-deploy-role.json, the StackSet template of the
 * member deploy role, from bootstrap/memberDeployRole.ts (a test fails when the committed file differs).
 */
import * as fs from "fs";
import * as path from "path";
import { renderedTemplate } from "../bootstrap/memberDeployRole";

const target = path.join(__dirname, "..", "bootstrap", "member-deploy-role.json");
fs.writeFileSync(target, renderedTemplate());
process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
