import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { guardDutyPattern, ocsfFindingsPattern, tagChangePattern } from "../../components/security/eventPatterns";
import { SLACK_WEBHOOK_PARAMETER } from "../../components/security/responseEngine";
import { asList, one, ofType, policyOf, RecordedResource, RenderedStack, renderStack, resolve, SECRET_SIG, statement, unwrapSecret } from "../support/pulumi";
import { FORENSIC_STACK, forensicOutputs, renderSecurity } from "../support/stacks";

const SECURITY = "222233334444";
const MEMBERS = { "444455556666": ["eu-west-1", "us-east-1"], "555566667777": ["eu-west-1"] };
const ENGINE_ROLES = `arn:aws:iam::${SECURITY}:role/ir-forensics/responder/*`;

/** The provider resource a resource was deployed with. */
function providerOf(stack: RenderedStack, r: RecordedResource): RecordedResource {
    const name = r.provider.split("::")[3];
    return one(stack, "pulumi:providers:aws", name);
}

describe("security stack (Pulumi.security.yaml)", () => {
    let stack: RenderedStack;
    before(async () => {
        stack = await renderSecurity();
    });

    describe("providers", () => {
        it("has its own provider, which accepts only the security account", () => {
            const provider = one(stack, "pulumi:providers:aws", "security");
            assert.deepStrictEqual(JSON.parse(provider.inputs.allowedAccountIds), [SECURITY]);
            assert.strictEqual(JSON.parse(provider.inputs.defaultTags).tags.Project, "ir-forensics");
        });

        it("has one provider per member account and region, assuming the deploy role there, with the same default tags", () => {
            const expected = Object.entries(MEMBERS).flatMap(([acct, regions]) => regions.map((r) => `member-${acct}-${r}`)).sort();
            const providers = ofType(stack, "pulumi:providers:aws").filter((p) => p.name.startsWith("member-"));
            assert.deepStrictEqual(providers.map((p) => p.name).sort(), expected);
            const homeTags = JSON.parse(one(stack, "pulumi:providers:aws", "security").inputs.defaultTags);
            for (const p of providers) {
                const [, acct, ...region] = p.name.split("-");
                assert.strictEqual(p.inputs.region, region.join("-"));
                assert.deepStrictEqual(JSON.parse(p.inputs.allowedAccountIds), [acct]);
                const assume = JSON.parse(p.inputs.assumeRoles)[0];
                assert.strictEqual(assume.roleArn, `arn:aws:iam::${acct}:role/ir-forensics-member-deployer`);
                assert.deepStrictEqual(JSON.parse(p.inputs.defaultTags), homeTags);
            }
        });

        it("deploys the engine through the security provider and each member's resources through that member's providers", () => {
            for (const r of stack.resources.filter((x) => x.type.startsWith("aws:"))) {
                const provider = providerOf(stack, r);
                const ownerAccount = JSON.parse(provider.inputs.allowedAccountIds)[0];
                if (r.name.startsWith("member-")) {
                    assert.strictEqual(ownerAccount, r.name.split("-")[1], `${r.type} ${r.name}`);
                } else {
                    assert.strictEqual(ownerAccount, SECURITY, `${r.type} ${r.name}`);
                }
            }
        });
    });

    describe("member footprint", () => {
        it("creates account-global roles once per account and a forwarding rule per region", () => {
            for (const [acct, regions] of Object.entries(MEMBERS)) {
                assert.strictEqual(ofType(stack, aws.iam.Role, `member-${acct}-responder`).length, 1);
                assert.strictEqual(ofType(stack, aws.iam.InstanceProfile, new RegExp(`^member-${acct}-`)).length, 2);
                const rules = ofType(stack, aws.cloudwatch.EventRule, new RegExp(`^member-${acct}-.*-tag-change$`));
                assert.deepStrictEqual(rules.map((r) => providerOf(stack, r).inputs.region).sort(), [...regions].sort());
            }
        });

        it("trusts only the security account's engine roles, inside the organization", () => {
            const role = one(stack, aws.iam.Role, "member-444455556666-responder");
            assert.strictEqual(role.inputs.name, "ir-forensics-responder");
            assert.strictEqual(role.inputs.path, "/ir-forensics/");
            const trust = policyOf(role, "assumeRolePolicy").Statement;
            assert.strictEqual(trust.length, 1);
            assert.deepStrictEqual(trust[0].Principal, { AWS: `arn:aws:iam::${SECURITY}:root` });
            assert.deepStrictEqual(trust[0].Condition, {
                ArnLike: { "aws:PrincipalArn": ENGINE_ROLES },
                StringEquals: { "aws:PrincipalOrgID": "o-a1b2c3d4e5" },
            });
        });

        it("lets the responder pass only the IR and deny-all roles, to EC2", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "member-444455556666-responder"));
            const pass = statement(doc, "PassOnlyTheIrAndContainedRoles");
            const roles = ofType(stack, aws.iam.Role).filter((r) => /^member-444455556666-(ir-instance|contained)$/.test(r.name)).map((r) => r.state.arn);
            assert.deepStrictEqual([...pass.Resource].sort(), roles.sort());
            assert.deepStrictEqual(pass.Condition, { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } });
            assert.ok(doc.Statement.filter((s) => asList(s.Action).includes("iam:PassRole")).length === 1);
        });

        it("lets the responder change rules only of the engine's own groups and set only incident tags", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "member-444455556666-responder"));
            assert.deepStrictEqual(statement(doc, "RulesOfEngineGroupsOnly").Condition, { Null: { "aws:ResourceTag/ir-forensics:purpose": "false" } });
            assert.deepStrictEqual(statement(doc, "TagInstancesWithIncidentTagsOnly").Condition, {
                "ForAllValues:StringEquals": { "aws:TagKeys": ["SecurityIncidentStatus", "SecurityIncidentCase"] },
            });
            assert.strictEqual(statement(doc, "NeverEditTheEngineRoles").Effect, "Deny");
        });

        it("gives the IR profile SSM core only and the contained profile a deny-all", () => {
            assert.match(one(stack, aws.iam.RolePolicyAttachment, "member-444455556666-ir-instance-ssm").inputs.policyArn, /AmazonSSMManagedInstanceCore$/);
            assert.strictEqual(ofType(stack, aws.iam.RolePolicyAttachment, /^member-444455556666-/).length, 1);
            const deny = policyOf(one(stack, aws.iam.RolePolicy, "member-444455556666-contained-deny-all")).Statement;
            assert.deepStrictEqual(deny, [{ Sid: "DenyEverything", Effect: "Deny", Action: "*", Resource: "*" }]);
        });

        it("forwards only SecurityIncidentStatus tag changes on instances to the engine bus, with a role scoped to that bus", () => {
            const bus = one(stack, aws.cloudwatch.EventBus, "engine-bus");
            const rule = one(stack, aws.cloudwatch.EventRule, "member-444455556666-us-east-1-tag-change");
            assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), tagChangePattern());
            const target = one(stack, aws.cloudwatch.EventTarget, "member-444455556666-us-east-1-tag-change");
            assert.strictEqual(target.inputs.arn, bus.state.arn);
            const forwarder = one(stack, aws.iam.Role, "member-444455556666-forwarder");
            assert.strictEqual(target.inputs.roleArn, forwarder.state.arn);
            assert.deepStrictEqual(policyOf(forwarder, "assumeRolePolicy").Statement[0].Condition, { StringEquals: { "aws:SourceAccount": "444455556666" } });
            const put = policyOf(one(stack, aws.iam.RolePolicy, "member-444455556666-forwarder")).Statement;
            assert.deepStrictEqual(put, [{ Sid: "PutToEngineBus", Effect: "Allow", Action: "events:PutEvents", Resource: bus.state.arn }]);
        });
    });

    describe("response engine", () => {
        it("admits PutEvents on its bus from the organization only", () => {
            const policy = policyOf(one(stack, aws.cloudwatch.EventBusPolicy, "engine-bus-policy")).Statement;
            assert.strictEqual(policy.length, 1);
            assert.strictEqual(policy[0].Action, "events:PutEvents");
            assert.deepStrictEqual(policy[0].Condition, { StringEquals: { "aws:PrincipalOrgID": "o-a1b2c3d4e5" } });
        });

        it("routes tag changes on its bus to the case opener", () => {
            const rule = one(stack, aws.cloudwatch.EventRule, "engine-tag-change-engine");
            assert.strictEqual(rule.inputs.eventBusName, one(stack, aws.cloudwatch.EventBus, "engine-bus").state.name);
            assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), tagChangePattern());
            const opener = one(stack, aws.lambda.Function, "engine-open-case");
            assert.strictEqual(one(stack, aws.cloudwatch.EventTarget, "engine-tag-change-engine").inputs.arn, opener.state.arn);
            const permission = one(stack, aws.lambda.Permission, "engine-tag-change-engine");
            assert.strictEqual(permission.inputs.principal, "events.amazonaws.com");
            assert.strictEqual(permission.inputs.sourceArn, rule.state.arn);
        });

        it("runs a Standard state machine that logs ALL to a log group with retention, with X-Ray on", () => {
            const machine = one(stack, aws.sfn.StateMachine, "engine-incident");
            assert.strictEqual(machine.inputs.type, "STANDARD");
            assert.strictEqual(machine.inputs.loggingConfiguration.level, "ALL");
            assert.strictEqual(machine.inputs.loggingConfiguration.includeExecutionData, true);
            assert.deepStrictEqual(machine.inputs.tracingConfiguration, { enabled: true });
            const logs = one(stack, aws.cloudwatch.LogGroup, "engine-incident-logs");
            assert.strictEqual(logs.inputs.retentionInDays, 365);
            assert.strictEqual(machine.inputs.loggingConfiguration.logDestination, `${logs.state.arn}:*`);
        });

        it("invokes exactly the step callbacks it was built with", () => {
            const definition = JSON.parse(one(stack, aws.sfn.StateMachine, "engine-incident").inputs.definition);
            const arn = (n: string) => one(stack, aws.lambda.Function, `engine-${n}`).state.arn;
            for (const [state, fn] of [["Triage", "triage"], ["Isolate", "isolate"], ["Record", "record"], ["Contain", "contain"], ["Close", "close"]]) {
                assert.strictEqual(definition.States[state].Resource, arn(fn));
            }
            assert.strictEqual(definition.States.TriageContained.Resource, arn("triage"));
            const [memoryBranch, diskBranch] = definition.States.Acquire.Branches;
            for (const state of ["Begin", "Advance", "Finish"]) {
                assert.strictEqual(memoryBranch.States[`Memory${state}`].Resource, arn("memory"));
            }
            // The disk branch only starts the snapshots; their copies run after containment, on the same function.
            for (const state of [diskBranch.States.DiskBegin, definition.States.DiskCopyAdvance, definition.States.DiskCopyFinish]) {
                assert.strictEqual(state.Resource, arn("disk"));
            }
            const invoke = statement(policyOf(one(stack, aws.iam.RolePolicy, "engine-incident-policy")), "InvokeStepCallbacks");
            assert.strictEqual(invoke.Resource.length, 14);
        });

        it("gives every callback a role of its own under the responder path (the module factory's under its own), never a default role", () => {
            const functions = ofType(stack, aws.lambda.Function);
            assert.ok(functions.length >= 7, functions.map((f) => f.name).join());
            const roles = new Set<string>();
            for (const fn of functions) {
                assert.ok(fn.inputs.role, `${fn.name} has no explicit role`);
                roles.add(fn.inputs.role);
                const role = ofType(stack, aws.iam.Role).find((r) => r.state.arn === fn.inputs.role);
                assert.ok(role, `${fn.name}'s role is not one of ours`);
                // The module factory's functions are not responders: members do not trust them, evidence is closed to them.
                assert.strictEqual(role.inputs.path, fn.name.startsWith("modules-") ? "/ir-forensics/module-factory/" : "/ir-forensics/responder/", fn.name);
                assert.strictEqual(fn.inputs.runtime, "nodejs22.x");
                assert.deepStrictEqual(fn.inputs.tracingConfig, { mode: "Active" });
            }
            assert.strictEqual(roles.size, functions.length);
            for (const att of ofType(stack, aws.iam.RolePolicyAttachment)) {
                assert.doesNotMatch(att.inputs.policyArn, /FullAccess|PowerUser|AdministratorAccess/, att.name);
            }
        });

        it("keeps one case per instance in an on-demand table that cannot be deleted by accident", () => {
            const table = one(stack, aws.dynamodb.Table, "engine-cases");
            assert.strictEqual(table.inputs.hashKey, "instanceKey");
            assert.strictEqual(table.inputs.billingMode, "PAY_PER_REQUEST");
            assert.strictEqual(table.inputs.deletionProtectionEnabled, true);
            assert.deepStrictEqual(table.inputs.pointInTimeRecovery, { enabled: true });
            // The case records (and the fallback records of cases whose manifest could not be written) survive destroy and refactors.
            assert.deepStrictEqual([table.opts.protect, table.opts.retainOnDelete], [true, true]);
        });

        it("keeps the engine's groups ready: the keeper on an hourly schedule, invoked at deploy time after the member footprints", () => {
            const keeper = one(stack, aws.lambda.Function, "engine-keep-groups");
            assert.ok(keeper);
            const schedule = one(stack, aws.cloudwatch.EventRule, "engine-keep-groups");
            assert.strictEqual(schedule.inputs.scheduleExpression, "rate(1 hour)");
            const invocation = one(stack, aws.lambda.Invocation, "engine-keep-groups-at-deploy");
            assert.deepStrictEqual(JSON.parse(invocation.inputs.input), { source: "ir-forensics.deploy" });
            const members = (invocation.opts.dependsOn as { urn?: unknown }[] | undefined) ?? [];
            assert.ok(Array.isArray(members) && members.length === 2, "after both members' footprints");
            const settings = JSON.parse(keeper.inputs.environment.variables.IRF_SETTINGS);
            assert.deepStrictEqual(settings.memberRegions, { "444455556666": ["eu-west-1", "us-east-1"], "555566667777": ["eu-west-1"] });
        });

        it("encrypts the notification topic and subscribes the configured e-mail", () => {
            const topic = one(stack, aws.sns.Topic, "engine-notifications");
            assert.strictEqual(topic.inputs.kmsMasterKeyId, "alias/aws/sns");
            const email = one(stack, aws.sns.TopicSubscription, "engine-email-0");
            assert.deepStrictEqual([email.inputs.protocol, email.inputs.endpoint, email.inputs.topic], ["email", "soc@example.com", topic.state.arn]);
        });

        it("passes each callback the engine settings, and the case opener the member accounts", () => {
            const opener = one(stack, aws.lambda.Function, "engine-open-case");
            const settings = JSON.parse(opener.inputs.environment.variables.IRF_SETTINGS);
            assert.deepStrictEqual(settings.memberAccounts, Object.keys(MEMBERS));
            assert.strictEqual(settings.evidenceBucket, "evidence-bucket-1a2b3c");
            assert.strictEqual(settings.stateMachineArn, one(stack, aws.sfn.StateMachine, "engine-incident").state.arn);
            assert.strictEqual(settings.member.responderRoleName, "ir-forensics-responder");
            // The buckets' regions (evidence, module store): the acquisition-isolation group needs the fallback for a bucket elsewhere.
            assert.deepStrictEqual(settings.isolation, { enabled: true, fallbackHttpsEgress: "0.0.0.0/0", bucketRegions: ["eu-west-1"] });
        });

        it("alarms on failed, timed-out and aborted executions, and pages the topic through a function", () => {
            const alarm = one(stack, aws.cloudwatch.MetricAlarm, "engine-failed-executions");
            const machine = one(stack, aws.sfn.StateMachine, "engine-incident");
            const metrics = alarm.inputs.metricQueries.filter((q: any) => q.metric).map((q: any) => q.metric);
            assert.deepStrictEqual(metrics.map((m: any) => m.metricName).sort(), ["ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"]);
            for (const m of metrics) {
                assert.strictEqual(m.namespace, "AWS/States");
                assert.strictEqual(m.dimensions.StateMachineArn, machine.state.arn);
            }
            assert.strictEqual(alarm.inputs.threshold, 1);
            assert.strictEqual(alarm.inputs.treatMissingData, "notBreaching");
            const forwarder = one(stack, aws.lambda.Function, "engine-alarm");
            assert.deepStrictEqual(alarm.inputs.alarmActions, [forwarder.state.arn]);
            // CloudWatch cannot publish to a topic under the AWS managed SNS key: the function can.
            assert.strictEqual(one(stack, aws.sns.Topic, "engine-notifications").inputs.kmsMasterKeyId, "alias/aws/sns");
            const invoke = one(stack, aws.lambda.Permission, "engine-alarm-invoke");
            assert.strictEqual(invoke.inputs.principal, "lambda.alarms.cloudwatch.amazonaws.com");
            assert.strictEqual(invoke.inputs.sourceArn, alarm.state.arn);
        });

        it("lets only the step callbacks that need it assume member roles or write evidence", () => {
            const policyFor = (fn: string) => policyOf(one(stack, aws.iam.RolePolicy, `engine-${fn}-policy`));
            const actions = (fn: string) => policyFor(fn).Statement.flatMap((s) => asList(s.Action));
            assert.ok(actions("triage").includes("sts:AssumeRole") && actions("triage").includes("s3:PutObject"));
            // The opener assumes member roles to read a "contained" instance itself; it writes no evidence.
            assert.ok(actions("open-case").includes("sts:AssumeRole") && !actions("open-case").includes("s3:PutObject"));
            assert.ok(!actions("alarm").includes("sts:AssumeRole") && !actions("alarm").includes("s3:PutObject"));
            assert.ok(!actions("record").includes("sts:AssumeRole"));
            const assume = statement(policyFor("contain"), "AssumeMemberResponderRoles");
            assert.deepStrictEqual(assume.Resource, Object.keys(MEMBERS).map((a) => `arn:aws:iam::${a}:role/ir-forensics/ir-forensics-responder`));
            assert.strictEqual(statement(policyFor("triage"), "WriteCaseEvidence").Resource, "arn:aws:s3:::evidence-bucket-1a2b3c/cases/*");
        });
    });

    describe("Security Hub", () => {
        /** The region of the provider a resource was created with ("" for the stack's default provider). */
        const regionOf = (s: RenderedStack, r: RecordedResource): string => {
            const name = r.provider.split("::")[3];
            return name ? String(s.resources.find((x) => x.type === "pulumi:providers:aws" && x.name === name)?.inputs.region) : "";
        };

        it("creates Analyze and Contain custom actions in every member region, whose events reach the tagger", () => {
            const targets = ofType(stack, aws.securityhub.ActionTarget);
            // Members run in eu-west-1 (home) and us-east-1.
            assert.deepStrictEqual(targets.map((t) => `${regionOf(stack, t)} ${t.inputs.name}`).sort(),
                ["eu-west-1 Analyze instance", "eu-west-1 Contain instance", "us-east-1 Analyze instance", "us-east-1 Contain instance"]);
            const rule = one(stack, aws.cloudwatch.EventRule, "securityhub-custom-actions");
            const pattern = JSON.parse(rule.inputs.eventPattern);
            assert.deepStrictEqual(pattern["detail-type"], ["Security Hub Findings - Custom Action"]);
            assert.deepStrictEqual([...pattern.resources].sort(), targets.map((t) => t.state.arn).sort());
            assert.strictEqual(one(stack, aws.cloudwatch.EventTarget, "securityhub-custom-actions").inputs.arn, one(stack, aws.lambda.Function, "securityhub-tagger").state.arn);

            // us-east-1: its own actions' events go to the home region's default bus, with a role that may put events only there.
            const forward = one(stack, aws.cloudwatch.EventRule, "securityhub-custom-actions-us-east-1");
            assert.strictEqual(regionOf(stack, forward), "us-east-1");
            assert.deepStrictEqual(JSON.parse(forward.inputs.eventPattern).resources.sort(),
                targets.filter((t) => regionOf(stack, t) === "us-east-1").map((t) => t.state.arn).sort());
            const target = one(stack, aws.cloudwatch.EventTarget, "securityhub-custom-actions-us-east-1");
            assert.strictEqual(target.inputs.arn, `arn:aws:events:eu-west-1:${SECURITY}:event-bus/default`);
            const role = one(stack, aws.iam.Role, "securityhub-forward-actions");
            assert.strictEqual(target.inputs.roleArn, role.state.arn);
            assert.deepStrictEqual(statement(policyOf(one(stack, aws.iam.RolePolicy, "securityhub-forward-actions")), "PutOnHomeDefaultBus").Resource,
                `arn:aws:events:eu-west-1:${SECURITY}:event-bus/default`);
        });

        it("can be turned off", async () => {
            const s = await renderSecurity({ config: { "ir-forensics:securityHub.enabled": false } });
            assert.deepStrictEqual(ofType(s, aws.securityhub.ActionTarget), []);
        });
    });

    describe("GuardDuty", () => {
        it("is off by default", () => {
            assert.deepStrictEqual(ofType(stack, aws.cloudwatch.EventRule, /guardduty/), []);
        });

        it("opens cases from findings at or above the configured severity, from members and the administrator's default bus", async () => {
            const s = await renderSecurity({ config: { "ir-forensics:guardDuty": { minSeverity: 7 } } });
            const rules = ofType(s, aws.cloudwatch.EventRule, /guardduty/);
            for (const rule of rules) {
                assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), guardDutyPattern(7));
            }
            assert.ok(rules.some((r) => r.name === "engine-guardduty-default" && r.inputs.eventBusName === undefined));
            assert.ok(rules.some((r) => r.name === "engine-guardduty-engine"));
            assert.strictEqual(rules.filter((r) => r.name.startsWith("member-")).length, 3);
            // Security Hub's OCSF findings (GuardDuty and Inspector through the new Security Hub): same threshold, same buses.
            const ocsf = ofType(s, aws.cloudwatch.EventRule, /securityhub-findings/);
            for (const rule of ocsf) {
                assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), ocsfFindingsPattern(7));
            }
            assert.deepStrictEqual(ocsf.filter((r) => r.name.startsWith("engine-")).map((r) => [r.name, r.inputs.eventBusName === undefined]).sort(),
                [["engine-securityhub-findings-default", true], ["engine-securityhub-findings-engine", false]]);
            assert.strictEqual(ocsf.filter((r) => r.name.startsWith("member-")).length, 3);
        });
    });

    describe("Slack", () => {
        it("has no Slack callback without a webhook", () => {
            assert.deepStrictEqual(ofType(stack, aws.lambda.Function, "engine-slack"), []);
        });

        it("keeps the webhook in an SSM SecureString that only the Slack callback may read, never in an environment", async () => {
            const url = "https://hooks.slack.com/services/T000/B000/XXXX";
            const s = await renderSecurity({ secrets: { "ir-forensics:slackWebhookUrl": url } });
            const parameter = one(s, aws.ssm.Parameter, "engine-slack-webhook");
            assert.strictEqual(parameter.inputs.type, "SecureString");
            assert.strictEqual(parameter.inputs.name, SLACK_WEBHOOK_PARAMETER);
            assert.ok(JSON.stringify(parameter.inputs.value).includes(SECRET_SIG), "the parameter's value is not marked secret");
            assert.strictEqual(unwrapSecret(parameter.inputs.value), url);

            const fn = one(s, aws.lambda.Function, "engine-slack");
            assert.deepStrictEqual(JSON.parse((fn.inputs.environment as any).variables.IRF_SETTINGS), { webhookParameter: SLACK_WEBHOOK_PARAMETER });
            const doc = policyOf(one(s, aws.iam.RolePolicy, "engine-slack-policy"));
            assert.deepStrictEqual(statement(doc, "ReadWebhook"), {
                Sid: "ReadWebhook", Effect: "Allow", Action: "ssm:GetParameter",
                Resource: `arn:aws:ssm:eu-west-1:${SECURITY}:parameter${SLACK_WEBHOOK_PARAMETER}`,
            });
            const sub = one(s, aws.sns.TopicSubscription, "engine-slack");
            assert.deepStrictEqual([sub.inputs.protocol, sub.inputs.endpoint], ["lambda", fn.state.arn]);
        });

        it("puts no secret in any function's environment or any stack output, in either stack", async () => {
            const url = "https://hooks.slack.com/services/T000/B000/XXXX";
            const rendered = [await renderSecurity({ secrets: { "ir-forensics:slackWebhookUrl": url } }), await renderStack("forensic")];
            const functions = rendered.flatMap((r) => r.resources.filter((x) => x.type === "aws:lambda/function:Function"));
            assert.ok(functions.length > 10, `${functions.length} functions`);
            for (const fn of functions) {
                const environment = JSON.stringify(fn.inputs.environment ?? {});
                assert.ok(!environment.includes(SECRET_SIG), `${fn.name}'s environment holds a secret`);
                assert.ok(!environment.includes("hooks.slack.com"), `${fn.name}'s environment holds the webhook`);
            }
            for (const r of rendered) {
                assert.ok(!JSON.stringify(r.outputs).includes("hooks.slack.com"), "a stack output holds the webhook");
            }
        });

        it("rejects a webhook that is not https, naming the key", async () => {
            await assert.rejects(renderSecurity({ secrets: { "ir-forensics:slackWebhookUrl": "http://example.com/x" } }), /ir-forensics:slackWebhookUrl/);
        });
    });

    describe("forensic stack reference", () => {
        it("reads the forensic stack named in config and passes its evidence store on", () => {
            const ref = one(stack, "pulumi:pulumi:StackReference", "forensic");
            assert.strictEqual(ref.inputs.name, FORENSIC_STACK);
            assert.strictEqual(stack.outputs.forensicAccountId, "111122223333");
            assert.strictEqual(stack.outputs.evidenceBucketArn, "arn:aws:s3:::evidence-bucket-1a2b3c");
        });

        it("runs the security program for a stack named security-prod without a role key", async () => {
            const s = await renderSecurity({
                stack: "security-prod",
                config: { "ir-forensics:role": undefined, "ir-forensics:forensicStack": undefined },
                stackOutputs: { [FORENSIC_STACK]: forensicOutputs() },
            });
            assert.strictEqual(s.outputs.role, "security");
        });

        it("refuses a forensic stack that belongs to another account, naming both keys", async () => {
            await assert.rejects(
                renderSecurity({ forensicAccount: "999999999999" }),
                /ir-forensics:forensicStack\) belongs to account 999999999999, but ir-forensics:accounts\.forensic is 111122223333/,
            );
        });

        it("fails when the role cannot be told from the stack name", async () => {
            await assert.rejects(renderSecurity({ stack: "prod", config: { "ir-forensics:role": undefined } }), /ir-forensics:role: expected forensic or security/);
        });
    });

    it("exports the engine's entry points", async () => {
        for (const key of ["engineBusArn", "stateMachineArn", "casesTableName", "notificationTopicArn", "securityHubAnalyzeActionArn"]) {
            assert.ok(stack.outputs[key], key);
        }
        assert.deepStrictEqual(Object.keys(await resolve(stack.outputs.memberResponderRoleArns)).sort(), Object.keys(MEMBERS).sort());
    });
});
