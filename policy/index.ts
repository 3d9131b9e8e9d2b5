// CrossGuard entry point: `pulumi preview --policy-pack policy` (and `pulumi up --policy-pack policy`).
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("ir-forensics", { policies: POLICIES });
