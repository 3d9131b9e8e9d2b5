import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { RuntimeSettings } from "../functions/aws";
import * as handlers from "../functions/handlers";
import { engineFunction, EngineFunction } from "./engineFunction";
import { Statement } from "./iam";

export interface SecurityHubActionsArgs {
    partition: string;
    region: string;
    /** The security account (Security Hub administrator, where findings of every member arrive). */
    accountId: string;
    /** Engine settings; the tagger uses the member names and the action ids. */
    settings: pulumi.Input<RuntimeSettings>;
    /** Permission to assume the member responder roles. */
    assumeMember: Statement;
    responderRolePath: string;
    logRetentionDays: number;
}

/** Custom action ids (at most 20 letters and digits) and what they set. */
export const SECURITY_HUB_ACTIONS = {
    analyze: { id: "IrfAnalyze", name: "Analyze instance", description: "Tag the finding's EC2 instances SecurityIncidentStatus=Analyze: acquire evidence, then contain" },
    contain: { id: "IrfContain", name: "Contain instance", description: "Tag the finding's EC2 instances SecurityIncidentStatus=Contain: contain now" },
} as const;

/**
 * Security Hub custom actions "Analyze instance" and "Contain instance". Choosing one on findings tags
 * every EC2 instance of those findings, in its own account and region, through the member responder
 * role; the tag change then opens the case through the normal path (same rules, same one-case rule).
 */
export class SecurityHubActions extends pulumi.ComponentResource {
    public readonly analyzeActionArn: pulumi.Output<string>;
    public readonly containActionArn: pulumi.Output<string>;
    public readonly tagger: EngineFunction;

    constructor(name: string, args: SecurityHubActionsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:security:SecurityHubActions", name, {}, opts);
        const parent = { parent: this };
        const targets = Object.fromEntries(Object.entries(SECURITY_HUB_ACTIONS).map(([key, a]) => [
            key,
            new aws.securityhub.ActionTarget(`${name}-${key}`, { identifier: a.id, name: a.name, description: a.description }, parent),
        ])) as Record<keyof typeof SECURITY_HUB_ACTIONS, aws.securityhub.ActionTarget>;

        this.tagger = engineFunction(`${name}-tagger`, {
            description: "tags the EC2 instances of Security Hub findings for analysis or containment",
            statements: [args.assumeMember],
            settings: pulumi.output(args.settings).apply((s) => ({
                ...s,
                securityHubActions: { analyzeId: SECURITY_HUB_ACTIONS.analyze.id, containId: SECURITY_HUB_ACTIONS.contain.id },
            })),
            callbackFactory: handlers.securityHubHandler,
            timeout: 120,
            logRetentionDays: args.logRetentionDays,
            rolePath: args.responderRolePath,
            accountId: args.accountId,
            partition: args.partition,
            region: args.region,
        }, this);

        const rule = new aws.cloudwatch.EventRule(`${name}-custom-actions`, {
            name: "ir-forensics-securityhub-actions",
            description: "ir-forensics: Security Hub custom actions Analyze / Contain instance",
            eventPattern: pulumi.jsonStringify({
                source: ["aws.securityhub"],
                "detail-type": ["Security Hub Findings - Custom Action"],
                resources: [targets.analyze.arn, targets.contain.arn],
            }),
        }, parent);
        new aws.cloudwatch.EventTarget(`${name}-custom-actions`, { rule: rule.name, arn: this.tagger.fn.arn }, parent);
        new aws.lambda.Permission(`${name}-custom-actions`, {
            action: "lambda:InvokeFunction",
            function: this.tagger.fn.name,
            principal: "events.amazonaws.com",
            sourceArn: rule.arn,
        }, parent);

        this.analyzeActionArn = targets.analyze.arn;
        this.containActionArn = targets.contain.arn;
        this.registerOutputs({ analyzeActionArn: this.analyzeActionArn, containActionArn: this.containActionArn });
    }
}
