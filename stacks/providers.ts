import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "./config";
import { PROJECT } from "../components/shared/conventions";

/** Tags every resource of a stack carries, through the provider's `defaultTags`. */
export function defaultTags(config: CommonConfig): Record<string, string> {
    return { ...config.tags, Project: PROJECT, Stack: pulumi.getStack(), ManagedBy: "pulumi" };
}

/**
 * The explicit provider of a stack's own account. `allowedAccountIds` makes a deploy with the other
 * account's credentials fail before anything is created there.
 */
export function homeProvider(name: string, config: CommonConfig, accountId: string): aws.Provider {
    return new aws.Provider(name, {
        region: config.region as aws.Region,
        allowedAccountIds: [accountId],
        defaultTags: { tags: defaultTags(config) },
    });
}
