import * as pulumi from "@pulumi/pulumi";
import { ConfigSource, loadForensicConfig, loadSecurityConfig, pulumiConfigSource, resolveRole } from "./config";
import { forensicStack } from "./forensic";
import { securityStack } from "./security";

/** Runs the program of this stack's role and returns its outputs. */
export function main(source: ConfigSource = pulumiConfigSource()) {
    const role = resolveRole(source, pulumi.getStack());
    if (role === "forensic") {
        return forensicStack(loadForensicConfig(source));
    }
    const defaultForensicStack = `${pulumi.getOrganization()}/${pulumi.getProject()}/forensic`;
    return securityStack(loadSecurityConfig(source, defaultForensicStack));
}
