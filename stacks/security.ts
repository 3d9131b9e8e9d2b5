/**
 * The security account's stack. It reads the forensic stack's outputs by StackReference and checks
 * that they belong to the configured forensic account; the response engine and the member footprint
 * are composed here.
 */
import * as pulumi from "@pulumi/pulumi";
import { SecurityConfig } from "./config";
import { homeProvider } from "./providers";

/** Outputs of the forensic stack this stack relies on. */
export const FORENSIC_OUTPUTS = ["accountId", "region", "evidenceBucketName", "evidenceBucketArn", "evidenceKeyArn"] as const;

export function securityStack(config: SecurityConfig) {
    homeProvider("security", config, config.accounts.security);
    const forensic = new pulumi.StackReference("forensic", { name: config.forensicStack });
    const outputs = Object.fromEntries(
        FORENSIC_OUTPUTS.map((key) => [key, forensic.requireOutput(key) as pulumi.Output<string>]),
    ) as Record<(typeof FORENSIC_OUTPUTS)[number], pulumi.Output<string>>;

    // A forensic stack of another account would receive evidence this stack's policies were not written for.
    const forensicAccountId = outputs.accountId.apply((id) => {
        if (id !== config.accounts.forensic) {
            throw new pulumi.RunError(
                `Stack ${config.forensicStack} (ir-forensics:forensicStack) belongs to account ${id}, ` +
                `but ir-forensics:accounts.forensic is ${config.accounts.forensic}`,
            );
        }
        return id;
    });

    return {
        role: "security",
        accountId: config.accounts.security,
        region: config.region,
        forensicStack: config.forensicStack,
        forensicAccountId,
        evidenceBucketName: outputs.evidenceBucketName,
        evidenceBucketArn: outputs.evidenceBucketArn,
        evidenceKeyArn: outputs.evidenceKeyArn,
    };
}
