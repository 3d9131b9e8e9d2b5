/**
 * The security account's stack: the response engine, Security Hub actions, and the member footprint in
 * every configured account and region (one explicit provider each, assuming the deploy role there). It
 * reads the forensic stack's outputs by StackReference and checks they belong to the configured account.
 */
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { memoryDocument } from "../functions/acquisition/memory";
import { DEPLOY_SOURCE } from "../functions/response/groupKeeper";
import { casePatterns } from "../components/security/eventPatterns";
import { MemberIrAutomation } from "../components/member/memberIrAutomation";
import { MODULE_FACTORY_ROLE_PATH, ModuleFactory } from "../components/security/moduleFactory";
import { ResponseEngine } from "../components/security/responseEngine";
import { SecurityHubActions } from "../components/security/securityHubActions";
import { SecurityConfig } from "./config";
import * as conventions from "../components/shared/conventions";
import { defaultTags, homeProvider } from "./providers";

/** Outputs of the forensic stack this stack relies on. */
export const FORENSIC_OUTPUTS = ["accountId", "region", "evidenceBucketName", "evidenceBucketArn", "evidenceKeyArn"] as const;

/** The provider that deploys a member's footprint in one region, through its deploy role. */
function memberProvider(config: SecurityConfig, accountId: string, region: string): aws.Provider {
    return new aws.Provider(`member-${accountId}-${region}`, {
        region: region as aws.Region,
        allowedAccountIds: [accountId],
        assumeRoles: [{
            roleArn: `arn:${config.partition}:iam::${accountId}:role/${config.memberDeployRoleName}`,
            sessionName: "ir-forensics-deploy",
        }],
        defaultTags: { tags: defaultTags(config) },
    });
}

export function securityStack(config: SecurityConfig, slackWebhookUrl?: pulumi.Output<string>) {
    const provider = homeProvider("security", config, config.accounts.security);
    // The security account in another region, one provider per region whoever needs it.
    const regionalProviders = new Map<string, aws.Provider>();
    const securityIn = (region: string): aws.Provider => {
        let regional = regionalProviders.get(region);
        if (!regional) {
            regional = new aws.Provider(`security-${region}`, {
                region: region as aws.Region,
                allowedAccountIds: [config.accounts.security],
                defaultTags: { tags: defaultTags(config) },
            });
            regionalProviders.set(region, regional);
        }
        return regional;
    };
    const forensic = new pulumi.StackReference("forensic", { name: config.forensicStack });
    const outputs = Object.fromEntries(
        FORENSIC_OUTPUTS.map((key) => [key, forensic.requireOutput(key) as pulumi.Output<string>]),
    ) as Record<(typeof FORENSIC_OUTPUTS)[number], pulumi.Output<string>>;

    // The forensic stack names the module store by its own region (the analysis VPC's S3 gateway endpoint reaches
    // same-region buckets only): elsewhere, workstations get no Volatility symbols. Evidence is unaffected.
    outputs.region.apply((forensicRegion) => {
        if (forensicRegion && forensicRegion !== config.region) {
            pulumi.log.warn(
                `The forensic stack is in ${forensicRegion} and this stack in ${config.region}: the module store is created here, ` +
                "so analysis workstations cannot read its Volatility symbol tables (deploy both stacks in one region for that).",
            );
        }
    });

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

    const p = config.partition;
    const patterns = casePatterns(config.guardDutyMinSeverity);
    const copierRoleArn = conventions.roleArn(p, config.accounts.forensic, conventions.EVIDENCE_COPIER_ROLE_PATH, conventions.EVIDENCE_COPIER_ROLE_NAME);
    const engine = new ResponseEngine("engine", {
        partition: p,
        region: config.region,
        accountId: config.accounts.security,
        organizationId: config.organizationId,
        evidence: {
            bucketName: outputs.evidenceBucketName,
            bucketArn: outputs.evidenceBucketArn,
            keyArn: outputs.evidenceKeyArn,
            region: outputs.region,
        },
        memberAccounts: config.members.map((m) => m.accountId),
        memberRegions: Object.fromEntries(config.members.map((m) => [m.accountId, m.regions])),
        memberNames: conventions.MEMBER_NAMES,
        responderRolePath: conventions.RESPONDER_ROLE_PATH,
        isolation: config.isolation,
        guardDutyMinSeverity: config.guardDutyMinSeverity,
        patterns,
        logRetentionDays: config.logRetentionDays,
        notificationEmails: config.notifications.emails,
        slackWebhookUrl,
        memory: {
            moduleStoreBucket: conventions.moduleStoreBucketName(config.accounts.security, config.region),
            documentName: conventions.MEMBER_NAMES.memoryDocumentName,
        },
        disk: {
            memberKeyAlias: conventions.MEMBER_NAMES.irKeyAlias,
            forensicAccountId: config.accounts.forensic,
            copierRoleArn,
            deleteOriginals: config.acquisition.deleteOriginalSnapshots,
            ...(config.acquisition.snapshotLock ? { lock: config.acquisition.snapshotLock } : {}),
        },
    }, { provider });

    const engineRolePattern = conventions.rolePathPattern(p, config.accounts.security, conventions.RESPONDER_ROLE_PATH);
    const members = config.members.map((m) => new MemberIrAutomation(`member-${m.accountId}`, {
        partition: p,
        accountId: m.accountId,
        regions: m.regions.map((region) => ({ region, provider: memberProvider(config, m.accountId, region) })),
        securityAccountId: config.accounts.security,
        engineRolePattern,
        organizationId: config.organizationId,
        engineBusArn: engine.bus.arn,
        names: conventions.MEMBER_NAMES,
        // GuardDuty findings are forwarded from members too, for organizations without a delegated administrator here.
        patterns,
        forensicAccountId: config.accounts.forensic,
        forensicRegion: outputs.region,
        evidenceCopierRoleArn: copierRoleArn,
        memoryDocument: memoryDocument(fs.readFileSync(path.join(__dirname, "..", "imagebuilder", "acquire-memory.sh"), "utf8")),
    }));

    // The engine's groups in every member VPC before the first case, once the member roles exist; again
    // whenever the members change (and every hour, by the keeper's schedule).
    if (members.length > 0) {
        new aws.lambda.Invocation("engine-keep-groups-at-deploy", {
            functionName: engine.groupKeeper.fn.name,
            input: JSON.stringify({ source: DEPLOY_SOURCE }),
            triggers: { members: JSON.stringify(config.members), isolation: JSON.stringify(config.isolation) },
        }, { provider, dependsOn: members });
    }

    // Module factory: the store in this region; builders in every region that lists AMIs (this account).
    const factoryRegions = Object.keys(config.moduleFactory.amiIds).filter((r) => r !== config.region);
    const modules = new ModuleFactory("modules", {
        partition: p,
        region: config.region,
        accountId: config.accounts.security,
        organizationId: config.organizationId,
        bucketName: conventions.moduleStoreBucketName(config.accounts.security, config.region),
        responderRolePattern: engineRolePattern,
        investigators: {
            accountId: config.accounts.forensic,
            rolePattern: conventions.rolePathPattern(p, config.accounts.forensic, conventions.INVESTIGATOR_ROLE_PATH),
        },
        symbolsPrefix: conventions.SYMBOLS_PREFIX,
        rolePath: MODULE_FACTORY_ROLE_PATH,
        notificationTopicArn: engine.topic.arn,
        engineBusName: engine.bus.name,
        builds: config.moduleFactory,
        regionProviders: Object.fromEntries(factoryRegions.map((r) => [r, securityIn(r)])),
        logRetentionDays: config.logRetentionDays,
    }, { provider });

    let securityHub: SecurityHubActions | undefined;
    if (config.securityHub.enabled) {
        securityHub = new SecurityHubActions("securityhub", {
            partition: p,
            region: config.region,
            accountId: config.accounts.security,
            settings: engine.settings,
            assumeMember: {
                Sid: "AssumeMemberResponderRoles",
                Effect: "Allow",
                Action: "sts:AssumeRole",
                Resource: config.members.map((m) =>
                    `arn:${p}:iam::${m.accountId}:role${conventions.MEMBER_NAMES.path}${conventions.MEMBER_NAMES.responderRoleName}`),
            },
            responderRolePath: conventions.RESPONDER_ROLE_PATH,
            logRetentionDays: config.logRetentionDays,
            regionProviders: Object.fromEntries([...new Set(config.members.flatMap((m) => m.regions))]
                .filter((r) => r !== config.region).sort().map((r) => [r, securityIn(r)])),
        }, { provider });
    }

    return {
        role: "security",
        accountId: config.accounts.security,
        region: config.region,
        forensicStack: config.forensicStack,
        forensicAccountId,
        evidenceBucketName: outputs.evidenceBucketName,
        evidenceBucketArn: outputs.evidenceBucketArn,
        evidenceKeyArn: outputs.evidenceKeyArn,
        engineBusArn: engine.bus.arn,
        stateMachineArn: engine.stateMachine.arn,
        casesTableName: engine.casesTable.name,
        notificationTopicArn: engine.topic.arn,
        functionNames: Object.fromEntries(Object.entries(engine.functions).map(([k, f]) => [k, f.fn.name])),
        moduleStoreBucketName: modules.bucketName,
        moduleStoreKeyArn: modules.keyArn,
        moduleBuildRequestRuleArn: modules.buildRequestRule.arn,
        memberResponderRoleArns: Object.fromEntries(members.map((m, i) => [config.members[i].accountId, m.responderRole.arn])),
        ...(securityHub ? { securityHubAnalyzeActionArn: securityHub.analyzeActionArn, securityHubContainActionArn: securityHub.containActionArn } : {}),
    };
}
