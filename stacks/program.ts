import * as pulumi from "@pulumi/pulumi";
import { checkSlackWebhook, ConfigSource, loadForensicConfig, loadSecurityConfig, pulumiConfigSource, resolveRole } from "./config";
import { forensicStack } from "./forensic";
import { securityStack } from "./security";

/** Runs the program of this stack's role and returns its outputs. */
export function main(source: ConfigSource = pulumiConfigSource()) {
    const role = resolveRole(source, pulumi.getStack());
    if (role === "forensic") {
        return forensicStack(loadForensicConfig(source));
    }
    const defaultForensicStack = `${pulumi.getOrganization()}/${pulumi.getProject()}/forensic`;
    // Checked in plain text here so that a bad value fails the preview; from here on it stays a secret.
    const slack = source.get("slackWebhookUrl");
    const slackWebhookUrl = slack === undefined ? undefined : pulumi.secret(checkSlackWebhook(slack));
    return securityStack(loadSecurityConfig(source, defaultForensicStack), slackWebhookUrl);
}
