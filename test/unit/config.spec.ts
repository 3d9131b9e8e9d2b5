import * as assert from "assert";
import {
    amiId, carveSubnets, closestKey, ConfigError, ConfigSource, DEFAULTS, NoSuchKeyError, STACK_KEYS, loadForensicConfig, loadSecurityConfig, mapConfigSource, parseCidr, region, resolveRole,
} from "../../stacks/config";
import { loadStackConfig } from "../support/pulumi";

/** The committed forensic config with dotted-path overrides, as a config source. */
function forensic(overrides: Record<string, unknown> = {}) {
    return mapConfigSource(loadStackConfig("forensic", overrides));
}

/** Asserts that loading fails with a ConfigError on `key` whose message contains `expected`. */
function rejects(load: () => unknown, key: string, expected: RegExp) {
    assert.throws(load, (err: unknown) => {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
        assert.strictEqual(err.key, key);
        assert.match(err.message, new RegExp(`^Invalid config ${key.split(".")[0].includes(":") ? "" : "ir-forensics:"}${key.replace(/[.[\]]/g, "\\$&")}: expected `));
        assert.match(err.message, expected);
        return true;
    });
}

/** Keys a loader asked for (through {@link tracked}). */
const read = new Set<string>();

/** The source, recording every key read from it. */
function tracked(source: ConfigSource): ConfigSource {
    return {
        get: (key, namespace) => (read.add(namespace && namespace !== "ir-forensics" ? `${namespace}:${key}` : key), source.get(key, namespace)),
        keys: () => source.keys(),
    };
}

/** A key the program does not read: NoSuchKeyError, "no such key" after the full key, then `hint`. */
function rejectsKey(load: () => unknown, key: string, hint: RegExp) {
    assert.throws(load, (err: unknown) => {
        assert.ok(err instanceof NoSuchKeyError, `expected a NoSuchKeyError, got ${String(err)}`);
        assert.strictEqual(err.key, key);
        assert.match(err.message, new RegExp(`^Invalid config ir-forensics:${key.replace(/[.[\]]/g, "\\$&")}: no such key; `));
        assert.match(err.message, hint);
        return true;
    });
}

describe("config", () => {
    describe("unknown keys", () => {
        const security = (overrides: Record<string, unknown> = {}) => mapConfigSource(loadStackConfig("security", overrides));

        it("fails on a top-level typo, naming the closest key", () => {
            rejectsKey(() => loadSecurityConfig(security({ "ir-forensics:isolaton": { fallbackHttpsEgress: "none" } }), "x"), "isolaton", /did you mean ir-forensics:isolation\?$/);
            rejectsKey(() => loadForensicConfig(forensic({ "ir-forensics:Evidence": {} })), "Evidence", /did you mean ir-forensics:evidence\?$/);
        });

        it("fails on a key of the other stack, naming that stack", () => {
            rejectsKey(() => loadForensicConfig(forensic({ "ir-forensics:members": [] })), "members", /belongs to the security stack/);
            rejectsKey(() => loadSecurityConfig(security({ "ir-forensics:analysisNetwork": {} }), "x"), "analysisNetwork", /belongs to the forensic stack/);
            // The Slack webhook is the security stack's: named, never its value.
            assert.throws(() => loadForensicConfig(forensic({ "ir-forensics:slackWebhookUrl": "https://hooks.slack.com/services/T/B/secret" })),
                (err: Error) => err instanceof NoSuchKeyError && !err.message.includes("secret") && /slackWebhookUrl: no such key; it belongs to the security stack/.test(err.message));
        });

        it("lists the stack's keys when nothing is close", () => {
            rejectsKey(() => loadForensicConfig(forensic({ "ir-forensics:quarantineEverything": true })), "quarantineEverything", /the forensic stack takes role, accounts, .*workstation$/);
        });

        it("leaves other namespaces alone (aws:, pulumi:)", () => {
            assert.ok(loadForensicConfig(forensic({ "aws:profile": "forensic", "aws:skipMetadataApiCheck": "false" })));
        });

        it("knows exactly the keys each loader reads", () => {
            for (const [role, load] of [["forensic", () => loadForensicConfig(tracked(forensic()))], ["security", () => loadSecurityConfig(tracked(security()), "x")]] as const) {
                read.clear();
                load();
                const expected = STACK_KEYS[role].filter((k) => k !== "role" && k !== "slackWebhookUrl");
                assert.deepStrictEqual([...read].filter((k) => !k.startsWith("aws:")).sort(), [...expected].sort(), role);
            }
        });

        it("suggests only what is close enough to be a typo", () => {
            assert.strictEqual(closestKey("guardduty", STACK_KEYS.security), "guardDuty");
            assert.strictEqual(closestKey("notification", STACK_KEYS.security), "notifications");
            assert.strictEqual(closestKey("x", STACK_KEYS.security), undefined);
        });
    });

    describe("the committed Pulumi.forensic.yaml", () => {
        it("loads with every documented value", () => {
            const c = loadForensicConfig(forensic());
            assert.strictEqual(c.region, "eu-west-1");
            assert.strictEqual(c.partition, "aws");
            assert.deepStrictEqual(c.accounts, { forensic: "111122223333", security: "222233334444" });
            assert.strictEqual(c.evidence.objectLockMode, "GOVERNANCE");
            assert.strictEqual(c.evidence.objectLockDays, 90);
            assert.strictEqual(c.evidence.expireAfterDays, undefined);
            assert.deepStrictEqual(c.analysisNetwork.subnetCidrs, ["10.66.0.0/24", "10.66.1.0/24", "10.66.2.0/24"]);
            assert.strictEqual(c.analysisNetwork.access, "eic");
        });

        it("falls back to the stated defaults when optional keys are absent", () => {
            const c = loadForensicConfig(forensic({
                "ir-forensics:evidence": undefined, "ir-forensics:analysisNetwork": undefined,
                "ir-forensics:trail": undefined, "ir-forensics:awsConfig": undefined, "ir-forensics:tags": undefined,
            }));
            assert.strictEqual(c.evidence.objectLockMode, DEFAULTS.evidence.objectLockMode);
            assert.strictEqual(c.evidence.objectLockDays, DEFAULTS.evidence.objectLockDays);
            assert.strictEqual(c.evidence.archiveAfterDays, DEFAULTS.evidence.archiveAfterDays);
            assert.deepStrictEqual(c.evidence.deployRoleArns, []);
            assert.strictEqual(c.analysisNetwork.cidr, DEFAULTS.analysisNetwork.cidr);
            assert.strictEqual(c.analysisNetwork.subnetCount, DEFAULTS.analysisNetwork.subnetCount);
            assert.strictEqual(c.analysisNetwork.access, "eic");
            assert.strictEqual(c.trail.managementEvents, false);
            assert.strictEqual(c.awsConfig.enabled, false);
        });
    });

    describe("account ids", () => {
        it("rejects an id that is not 12 digits", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:accounts.forensic": "12345" })), "accounts.forensic", /12-digit AWS account id, got "12345"/);
        });
        it("rejects an unquoted id that lost its leading zero, and says to quote it", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:accounts.security": 12345678901 })), "accounts.security", /quote account ids/);
        });
        it("accepts an unquoted 12-digit number", () => {
            assert.strictEqual(loadForensicConfig(forensic({ "ir-forensics:accounts.security": 222233334444 })).accounts.security, "222233334444");
        });
        it("requires both accounts and keeps them apart", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:accounts.security": undefined })), "accounts.security", /required/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:accounts.security": "111122223333" })), "accounts", /different forensic and security/);
        });
    });

    describe("regions", () => {
        it("requires aws:region and names it", () => {
            rejects(() => loadForensicConfig(forensic({ "aws:region": undefined })), "aws:region", /required/);
        });
        it("rejects a malformed region", () => {
            rejects(() => loadForensicConfig(forensic({ "aws:region": "europe-1" })), "aws:region", /AWS region name/);
            rejects(() => region("members[0].regions[1]", "us-east"), "members[0].regions[1]", /AWS region name/);
        });
        it("accepts commercial, GovCloud and China regions and derives the partition", () => {
            for (const [name, partition] of [["ap-southeast-2", "aws"], ["us-gov-west-1", "aws-us-gov"], ["cn-north-1", "aws-cn"]]) {
                const c = loadForensicConfig(forensic({
                    "aws:region": name,
                    "ir-forensics:evidence.breakGlassRoleArn": undefined,
                    "ir-forensics:evidence.deployRoleArns": undefined,
                    "ir-forensics:evidence.investigatorPrincipalArns": undefined,
                }));
                assert.strictEqual(c.partition, partition);
            }
        });
    });

    describe("AMI ids", () => {
        it("accepts 8 and 17 hex digits", () => {
            assert.strictEqual(amiId("k", "ami-0abc1234"), "ami-0abc1234");
            assert.strictEqual(amiId("k", "ami-0123456789abcdef0"), "ami-0123456789abcdef0");
        });
        it("rejects anything else, naming the key", () => {
            for (const bad of ["ami-123", "ami-0123456789ABCDEF0", "ami-0123456789abcdef", "0123456789abcdef0", 42]) {
                rejects(() => amiId('moduleFactory.amiIds["us-east-1"][0]', bad), 'moduleFactory.amiIds["us-east-1"][0]', /ami- followed by 8 or 17 hex digits/);
            }
        });
    });

    describe("analysis network", () => {
        it("rejects 201 subnets and names the key", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.subnetCount": 201 })), "analysisNetwork.subnetCount", /integer from 1 to 200, got 201/);
        });
        it("rejects zero subnets", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.subnetCount": 0 })), "analysisNetwork.subnetCount", /from 1 to 200/);
        });
        it("accepts 200 subnets of /24 in a /16", () => {
            const c = loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.subnetCount": 200 }));
            assert.strictEqual(c.analysisNetwork.subnetCidrs.length, 200);
            assert.strictEqual(c.analysisNetwork.subnetCidrs[199], "10.66.199.0/24");
        });
        it("rejects subnets that do not fit the CIDR", () => {
            rejects(
                () => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.cidr": "10.66.0.0/20", "ir-forensics:analysisNetwork.subnetCount": 17 })),
                "analysisNetwork.subnetCount",
                /at most 16 subnets of \/24 in 10\.66\.0\.0\/20/,
            );
        });
        it("rejects a CIDR that is not a network address, and suggests one", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.cidr": "10.66.1.0/16" })), "analysisNetwork.cidr", /like 10\.66\.0\.0\/16/);
        });
        it("rejects a malformed CIDR or one outside /16-/28", () => {
            for (const bad of ["10.66.0.0", "10.66.0.0/8", "10.300.0.0/16", "ten/16"]) {
                rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.cidr": bad })), "analysisNetwork.cidr", /IPv4 CIDR block/);
            }
        });
        it("rejects an unknown access mode", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.access": "vpn" })), "analysisNetwork.access", /one of eic, ssm/);
        });
        it("rejects more endpoint AZs than subnets", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.ssmEndpointAzCount": 4 })), "analysisNetwork.ssmEndpointAzCount", /from 1 to 3/);
        });
        it("rejects a typo'd key instead of ignoring it", () => {
            rejectsKey(() => loadForensicConfig(forensic({ "ir-forensics:analysisNetwork.subnetCout": 5 })), "analysisNetwork.subnetCout",
                /did you mean ir-forensics:analysisNetwork\.subnetCount\?$/);
        });
        it("carves subnets in address order", () => {
            assert.deepStrictEqual(carveSubnets(parseCidr("k", "10.0.0.0/26", 16, 28), 28, 4), ["10.0.0.0/28", "10.0.0.16/28", "10.0.0.32/28", "10.0.0.48/28"]);
        });
    });

    describe("evidence retention", () => {
        it("rejects an unknown Object Lock mode", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:evidence.objectLockMode": "LEGAL_HOLD" })), "evidence.objectLockMode", /one of GOVERNANCE, COMPLIANCE/);
        });
        it("accepts COMPLIANCE", () => {
            assert.strictEqual(loadForensicConfig(forensic({ "ir-forensics:evidence.objectLockMode": "COMPLIANCE" })).evidence.objectLockMode, "COMPLIANCE");
        });
        it("rejects non-positive or fractional Object Lock days", () => {
            for (const bad of [0, -5, 1.5, "ninety"]) {
                rejects(() => loadForensicConfig(forensic({ "ir-forensics:evidence.objectLockDays": bad })), "evidence.objectLockDays", /integer from 1 to 36500/);
            }
        });
        it("rejects invalid lifecycle days", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:evidence.archiveAfterDays": 0 })), "evidence.archiveAfterDays", /integer from 1/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:evidence.archiveStorageClass": "STANDARD_IA" })), "evidence.archiveStorageClass", /GLACIER/);
        });
        it("rejects an expiry that would come before the lock or the archive ends", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:evidence.expireAfterDays": 90 })), "evidence.expireAfterDays", /more days than evidence.objectLockDays \(90\) and evidence.archiveAfterDays \(395\)/);
            assert.strictEqual(loadForensicConfig(forensic({ "ir-forensics:evidence.expireAfterDays": 2555 })).evidence.expireAfterDays, 2555);
        });
        it("rejects a break-glass role outside the forensic account", () => {
            rejects(
                () => loadForensicConfig(forensic({ "ir-forensics:evidence.breakGlassRoleArn": "arn:aws:iam::222233334444:role/BreakGlass" })),
                "evidence.breakGlassRoleArn",
                /IAM role ARN in account 111122223333/,
            );
        });
        it("rejects a malformed investigator ARN and names its index", () => {
            rejects(
                () => loadForensicConfig(forensic({ "ir-forensics:evidence.investigatorPrincipalArns": ["arn:aws:iam::111122223333:user/alice"] })),
                "evidence.investigatorPrincipalArns[0]",
                /IAM role ARN/,
            );
        });
    });

    describe("organization id", () => {
        it("requires o- and 10 to 32 characters", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:organizationId": "r-abcd" })), "organizationId", /Organizations id/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:organizationId": "o-short" })), "organizationId", /Organizations id/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:organizationId": undefined })), "organizationId", /required/);
        });
    });

    describe("SIFT image and workstations", () => {
        it("defaults to weekly dependency checks, 3 AMIs kept, x86_64, and workstations that stop after 4 idle hours, never launched by themselves", () => {
            const c = loadForensicConfig(forensic({ "ir-forensics:sift": undefined, "ir-forensics:workstation": undefined }));
            assert.deepStrictEqual(c.sift, {
                architecture: "x86_64", schedule: "cron(0 9 ? * sun *)", keepImages: 3, buildInstanceTypes: ["m6i.large", "m5.large"],
                rootVolumeGiB: 100, buildCidr: "10.67.0.0/24",
            });
            assert.deepStrictEqual(c.workstation, { instanceType: "m6i.xlarge", idleStopHours: 4, launchAtCaseEnd: false });
            assert.deepStrictEqual(c.sift.buildInstanceTypes, [...DEFAULTS.sift.buildInstanceTypes]);
        });
        it("refuses arm64, which SIFT does not support", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.architecture": "arm64" })), "sift.architecture", /x86_64 \(SIFT's installer, cast, and its salt states support amd64 only\), got "arm64"/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.architecture": "i386" })), "sift.architecture", /one of x86_64/);
        });
        it("takes only six-field Image Builder cron expressions", () => {
            assert.strictEqual(loadForensicConfig(forensic({ "ir-forensics:sift.schedule": "cron(0 3 1 * ? *)" })).sift.schedule, "cron(0 3 1 * ? *)");
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.schedule": "cron(0 9 * * sun)" })), "sift.schedule", /six fields/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.schedule": "rate(7 days)" })), "sift.schedule", /cron\(0 9 \? \* sun \*\)/);
        });
        it("bounds the AMIs kept, the root volume and the idle hours", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.keepImages": 0 })), "sift.keepImages", /from 1 to 50, got 0/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.rootVolumeGiB": 30 })), "sift.rootVolumeGiB", /from 60 to 1024/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:workstation.idleStopHours": 169 })), "workstation.idleStopHours", /from 1 to 168/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:workstation.launchAtCaseEnd": "yes" })), "workstation.launchAtCaseEnd", /true or false/);
        });
        it("checks instance types, the build CIDR and unknown keys", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:workstation.instanceType": "huge" })), "workstation.instanceType", /EC2 instance type/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.buildInstanceTypes": [] })), "sift.buildInstanceTypes", /at least one/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.buildInstanceTypes": ["m5.large", "M5"] })), "sift.buildInstanceTypes[1]", /EC2 instance type/);
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:sift.buildCidr": "10.67.0.1/24" })), "sift.buildCidr", /network address/);
            rejectsKey(() => loadForensicConfig(forensic({ "ir-forensics:workstation.idleHours": 2 })), "workstation.idleHours", /workstation takes instanceType, idleStopHours, launchAtCaseEnd/);
        });
    });

    describe("tags", () => {
        it("rejects reserved aws: tag keys", () => {
            rejects(() => loadForensicConfig(forensic({ "ir-forensics:tags": { "aws:owner": "x" } })), "tags.aws:owner", /no aws: prefix/);
        });
    });

    describe("stack role", () => {
        const none = mapConfigSource({});
        it("comes from the stack name", () => {
            assert.strictEqual(resolveRole(none, "forensic"), "forensic");
            assert.strictEqual(resolveRole(none, "security-prod"), "security");
            assert.strictEqual(resolveRole(none, "forensic_eu"), "forensic");
        });
        it("comes from the role key, which wins over the name", () => {
            assert.strictEqual(resolveRole(mapConfigSource({ "ir-forensics:role": "security" }), "prod-1"), "security");
        });
        it("fails naming the role key when neither says", () => {
            rejects(() => resolveRole(none, "prod"), "role", /forensic or security/);
            rejects(() => resolveRole(mapConfigSource({ "ir-forensics:role": "member" }), "forensic"), "role", /one of forensic, security/);
        });
    });

    describe("security stack", () => {
        const security = (overrides: Record<string, unknown> = {}) => mapConfigSource(loadStackConfig("security", overrides));
        it("loads the committed Pulumi.security.yaml", () => {
            const c = loadSecurityConfig(security(), "org/ir-forensics/forensic");
            // The committed config leaves the reference to its default (an "organization/..." name exists only on self-managed backends).
            assert.strictEqual(c.forensicStack, "org/ir-forensics/forensic");
            assert.strictEqual(c.accounts.security, "222233334444");
        });
        it("defaults the forensic stack reference", () => {
            assert.strictEqual(loadSecurityConfig(security({ "ir-forensics:forensicStack": undefined }), "acme/ir-forensics/forensic").forensicStack, "acme/ir-forensics/forensic");
        });
        it("reads members, isolation, notifications and log retention with their defaults", () => {
            const c = loadSecurityConfig(security(), "x");
            assert.deepStrictEqual(c.members, [
                { accountId: "444455556666", regions: ["eu-west-1", "us-east-1"] },
                { accountId: "555566667777", regions: ["eu-west-1"] },
            ]);
            assert.strictEqual(c.memberDeployRoleName, "ir-forensics-member-deployer");
            assert.deepStrictEqual(c.isolation, { enabled: true, fallbackHttpsEgress: "0.0.0.0/0" });
            assert.strictEqual(c.guardDutyMinSeverity, undefined);
            assert.strictEqual(c.logRetentionDays, 365);
            const bare = loadSecurityConfig(security({
                "ir-forensics:isolation": undefined, "ir-forensics:logRetentionDays": undefined, "ir-forensics:memberDeployRoleName": undefined,
                "ir-forensics:members": undefined, "ir-forensics:notifications": undefined, "ir-forensics:securityHub": undefined,
            }), "x");
            assert.deepStrictEqual([bare.members, bare.isolation.enabled, bare.logRetentionDays, bare.securityHub.enabled], [[], true, 365, true]);
        });
        it("rejects a member listed twice, a bad member region and an empty region list", () => {
            const twice = [{ accountId: "444455556666", regions: ["eu-west-1"] }, { accountId: "444455556666", regions: ["us-east-1"] }];
            rejects(() => loadSecurityConfig(security({ "ir-forensics:members": twice }), "x"), "members[1].accountId", /listed once/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:members": [{ accountId: "444455556666", regions: ["eu-west"] }] }), "x"), "members[0].regions[0]", /AWS region name/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:members": [{ accountId: "444455556666", regions: [] }] }), "x"), "members[0].regions", /at least one region/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:members": [{ accountId: "4444", regions: ["eu-west-1"] }] }), "x"), "members[0].accountId", /12-digit/);
        });
        it("rejects a GuardDuty severity out of range, a bad retention, an invalid e-mail or egress", () => {
            rejects(() => loadSecurityConfig(security({ "ir-forensics:guardDuty": { minSeverity: 9 } }), "x"), "guardDuty.minSeverity", /1 to 8.9/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:logRetentionDays": 100 }), "x"), "logRetentionDays", /retention values/);
        });

        it("acquisition: originals kept and evidence snapshots unlocked by default; lock mode, days and cool-off validated", () => {
            const c = loadSecurityConfig(security({ "ir-forensics:acquisition": undefined }), "x");
            assert.deepStrictEqual(c.acquisition, { deleteOriginalSnapshots: false });
            const locked = loadSecurityConfig(security({
                "ir-forensics:acquisition": { deleteOriginalSnapshots: true, snapshotLock: { mode: "compliance", days: 365, coolOffHours: 24 } },
            }), "x");
            assert.deepStrictEqual(locked.acquisition, { deleteOriginalSnapshots: true, snapshotLock: { mode: "compliance", days: 365, coolOffHours: 24 } });
            const bad = (acquisition: unknown) => () => loadSecurityConfig(security({ "ir-forensics:acquisition": acquisition }), "x");
            rejects(bad({ snapshotLock: { mode: "legal-hold", days: 1 } }), "acquisition.snapshotLock.mode", /governance, compliance/);
            rejects(bad({ snapshotLock: { mode: "governance" } }), "acquisition.snapshotLock.days", /required/);
            rejects(bad({ snapshotLock: { mode: "governance", days: 0 } }), "acquisition.snapshotLock.days", /1 to 36500/);
            rejects(bad({ snapshotLock: { mode: "governance", days: 7, coolOffHours: 1 } }), "acquisition.snapshotLock.coolOffHours", /compliance mode/);
            rejects(bad({ snapshotLock: { mode: "compliance", days: 7, coolOffHours: 73 } }), "acquisition.snapshotLock.coolOffHours", /1 to 72/);
            rejectsKey(bad({ deleteOriginals: true }), "acquisition.deleteOriginals", /acquisition takes deleteOriginalSnapshots, snapshotLock/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:notifications.emails": ["soc"] }), "x"), "notifications.emails[0]", /e-mail/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:isolation.fallbackHttpsEgress": "10.0.0.0/8" }), "x"), "isolation.fallbackHttpsEgress", /0\.0\.0\.0\/0, none/);
            rejects(() => loadSecurityConfig(security({ "ir-forensics:memberDeployRoleName": "bad role" }), "x"), "memberDeployRoleName", /IAM role name/);
            assert.strictEqual(loadSecurityConfig(security({ "ir-forensics:guardDuty": { minSeverity: 7 } }), "x").guardDutyMinSeverity, 7);
        });
        it("rejects a malformed stack reference", () => {
            rejects(() => loadSecurityConfig(security({ "ir-forensics:forensicStack": "a/b/c/d" }), "x"), "forensicStack", /stack name/);
        });
    });

    describe("moduleFactory (security)", () => {
        const security = (overrides: Record<string, unknown> = {}) => mapConfigSource(loadStackConfig("security", overrides));
        const AVML = { x86_64: "a".repeat(64), arm64: "b".repeat(64) };
        const factory = (value: Record<string, unknown>) => loadSecurityConfig(security({ "ir-forensics:moduleFactory": value }), "x").moduleFactory;

        it("defaults to no AMIs, a daily refresh and the pinned tools, with no AVML hash of ours", () => {
            const c = loadSecurityConfig(security(), "x").moduleFactory;
            assert.deepStrictEqual(c.amiIds, {});
            assert.strictEqual(c.schedule, "rate(1 day)");
            assert.strictEqual(c.maxBuildMinutes, DEFAULTS.moduleFactory.maxBuildMinutes);
            assert.deepStrictEqual(c.tools.lime, DEFAULTS.moduleFactory.tools.lime);
            assert.match(c.tools.lime.commit, /^[0-9a-f]{40}$/);
            assert.deepStrictEqual(c.tools.avml.sha256, { x86_64: "", arm64: "" });
        });

        it("loads AMIs by region, networks, schedule and pins", () => {
            const c = factory({
                amiIds: { "eu-west-1": ["ami-0123456789abcdef0"], "us-east-1": ["ami-11112222", "ami-33334444"] },
                networks: { "us-east-1": { subnetId: "subnet-11112222", securityGroupId: "sg-11112222", publicIp: true } },
                schedule: "cron(0 3 * * ? *)",
                tools: { avml: { sha256: AVML }, dwarf2json: { version: "0.9.1", commit: "e".repeat(40) } },
            });
            assert.deepStrictEqual(c.amiIds, { "eu-west-1": ["ami-0123456789abcdef0"], "us-east-1": ["ami-11112222", "ami-33334444"] });
            assert.deepStrictEqual(c.networks, { "us-east-1": { subnetId: "subnet-11112222", securityGroupId: "sg-11112222", publicIp: true } });
            assert.strictEqual(c.schedule, "cron(0 3 * * ? *)");
            assert.deepStrictEqual(c.tools.avml.sha256, AVML);
            assert.strictEqual(c.tools.dwarf2json.commit, "e".repeat(40));
            assert.strictEqual(c.tools.dwarf2json.repository, DEFAULTS.moduleFactory.tools.dwarf2json.repository);
        });

        it("rejects a bad AMI id, naming the list entry", () => {
            rejects(() => factory({ amiIds: { "eu-west-1": ["ami-0123456789abcdef0", "ami-XYZ"] }, tools: { avml: { sha256: AVML } } }),
                'moduleFactory.amiIds["eu-west-1"][1]', /AMI id: ami- followed by 8 or 17 hex digits, got "ami-XYZ"/);
            rejects(() => factory({ amiIds: { "eu-west-1": ["ami-11112222", "ami-11112222"] }, tools: { avml: { sha256: AVML } } }),
                'moduleFactory.amiIds["eu-west-1"]', /each AMI id listed once/);
            rejects(() => factory({ amiIds: { "eu-west-1": "ami-11112222" } }), 'moduleFactory.amiIds["eu-west-1"]', /a list/);
        });

        it("rejects an unknown region and a region of another partition, naming the key", () => {
            rejects(() => factory({ amiIds: { "mars-east-1": ["ami-11112222"] } }), 'moduleFactory.amiIds["mars-east-1"]', /AWS region name/);
            rejects(() => factory({ amiIds: { "cn-north-1": ["ami-11112222"] } }), 'moduleFactory.amiIds["cn-north-1"]', /region of the aws partition/);
            rejects(() => factory({ networks: { "eu-west": { subnetId: "subnet-11112222", securityGroupId: "sg-11112222" } } }),
                'moduleFactory.networks["eu-west"]', /AWS region name/);
        });

        it("requires the AVML hashes you verified once an AMI is listed (no published checksum exists)", () => {
            rejects(() => factory({ amiIds: { "eu-west-1": ["ami-11112222"] } }), "moduleFactory.tools.avml.sha256.x86_64", /no published checksum/);
            rejects(() => factory({ amiIds: { "eu-west-1": ["ami-11112222"] }, tools: { avml: { sha256: { x86_64: AVML.x86_64 } } } }),
                "moduleFactory.tools.avml.sha256.arm64", /required/);
            rejects(() => factory({ tools: { avml: { sha256: { x86_64: "ABC" } } } }), "moduleFactory.tools.avml.sha256.x86_64", /hex SHA-256/);
        });

        it("rejects malformed pins, schedules, networks, limits and unknown keys", () => {
            rejects(() => factory({ tools: { lime: { commit: "v1.9.1" } } }), "moduleFactory.tools.lime.commit", /40-hex-digit git commit/);
            rejects(() => factory({ tools: { lime: { repository: "git@github.com:x/y" } } }), "moduleFactory.tools.lime.repository", /https:/);
            rejects(() => factory({ schedule: "every day" }), "moduleFactory.schedule", /rate\(1 day\)/);
            rejects(() => factory({ networks: { "eu-west-1": { subnetId: "subnet-11112222" } } }), 'moduleFactory.networks["eu-west-1"].securityGroupId', /required/);
            rejects(() => factory({ maxBuildMinutes: 5 }), "moduleFactory.maxBuildMinutes", /15 to 720/);
            rejects(() => factory({ instanceTypes: { arm64: "big" } }), "moduleFactory.instanceTypes.arm64", /instance type/);
            rejectsKey(() => factory({ amis: {} }), "moduleFactory.amis", /did you mean ir-forensics:moduleFactory\.amiIds\?/);
        });
    });
});
