import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { RuntimeSettings } from "../../functions/shared/settings";
import * as handlers from "../../functions/response/handlers";
import { engineFunction, EngineFunction } from "../shared/engineFunction";
import { CUSTOM_ACTION_DETAIL_TYPE } from "../../functions/response/securityHub";
import { policyJson, serviceTrustPolicy, Statement } from "../shared/iam";

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
    /**
     * Providers of the security account in the other regions where members run (Security Hub shows and acts
     * on findings per region, unless findings are aggregated): the actions exist there too, their events sent
     * to this region's default bus. Default none.
     */
    regionProviders?: Record<string, pulumi.ProviderResource>;
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
        const actionTargets = (suffix: string, opts: pulumi.CustomResourceOptions) => Object.fromEntries(Object.entries(SECURITY_HUB_ACTIONS).map(([key, a]) => [
            key,
            new aws.securityhub.ActionTarget(`${name}-${key}${suffix}`, { identifier: a.id, name: a.name, description: a.description }, opts),
        ])) as Record<keyof typeof SECURITY_HUB_ACTIONS, aws.securityhub.ActionTarget>;
        const targets = actionTargets("", parent);
        const homeBusArn = `arn:${args.partition}:events:${args.region}:${args.accountId}:event-bus/default`;
        const regional = Object.entries(args.regionProviders ?? {}).filter(([region]) => region !== args.region);
        const regionalArns: pulumi.Output<string>[] = [];
        if (regional.length > 0) {
            // EventBridge puts the other regions' action events on this region's default bus with this role.
            const forwarder = new aws.iam.Role(`${name}-forward-actions`, {
                path: "/ir-forensics/",
                description: "ir-forensics: EventBridge forwards Security Hub custom action events of other regions to the home region",
                assumeRolePolicy: serviceTrustPolicy("events.amazonaws.com", args.accountId),
                maxSessionDuration: 3600,
            }, parent);
            new aws.iam.RolePolicy(`${name}-forward-actions`, {
                role: forwarder.name,
                policy: policyJson([{ Sid: "PutOnHomeDefaultBus", Effect: "Allow", Action: "events:PutEvents", Resource: homeBusArn }]),
            }, parent);
            for (const [region, provider] of regional) {
                const opts = { parent: this, provider };
                const here = actionTargets(`-${region}`, opts);
                regionalArns.push(here.analyze.arn, here.contain.arn);
                const forward = new aws.cloudwatch.EventRule(`${name}-custom-actions-${region}`, {
                    name: "ir-forensics-securityhub-actions",
                    description: `ir-forensics: Security Hub custom actions in ${region}, sent to ${args.region}`,
                    eventPattern: pulumi.jsonStringify({
                        source: ["aws.securityhub"],
                        "detail-type": [CUSTOM_ACTION_DETAIL_TYPE],
                        resources: [here.analyze.arn, here.contain.arn],
                    }),
                }, opts);
                new aws.cloudwatch.EventTarget(`${name}-custom-actions-${region}`, { rule: forward.name, arn: homeBusArn, roleArn: forwarder.arn }, opts);
            }
        }

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
                "detail-type": [CUSTOM_ACTION_DETAIL_TYPE],
                resources: [targets.analyze.arn, targets.contain.arn, ...regionalArns],
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
