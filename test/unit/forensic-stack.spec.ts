import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { ConfigError } from "../../stacks/config";
import { arnLike, checkDeployer, PREVIEW_ONLY_ENV } from "../../stacks/deployer";
import { asList, one, ofType, policyOf, RecordedResource, renderStack, RenderedStack, statement } from "../support/pulumi";

const FORENSIC = "111122223333";
const SECURITY = "222233334444";
const RESPONDERS = `arn:aws:iam::${SECURITY}:role/ir-forensics/responder/*`;
const BREAK_GLASS = `arn:aws:iam::${FORENSIC}:role/ir-forensics-break-glass`;
const DEPLOY = `arn:aws:iam::${FORENSIC}:role/ir-forensics-deploy`;

function bucketNamed(stack: RenderedStack, name: string): RecordedResource {
    return one(stack, aws.s3.Bucket, name);
}

/** Sub-resources (encryption, policy...) that point at a bucket, by the bucket's physical name. */
function forBucket(stack: RenderedStack, cls: Parameters<typeof ofType>[1], bucket: RecordedResource): RecordedResource[] {
    return ofType(stack, cls).filter((r) => r.inputs.bucket === bucket.state.bucket);
}

describe("forensic stack (Pulumi.forensic.yaml)", () => {
    let stack: RenderedStack;
    let evidence: RecordedResource;
    let evidenceArn: string;
    before(async () => {
        stack = await renderStack("forensic");
        evidence = bucketNamed(stack, "evidence-bucket");
        evidenceArn = evidence.state.arn;
    });

    describe("provider and tags", () => {
        it("deploys everything through one provider that only accepts the forensic account", () => {
            const providers = ofType(stack, "pulumi:providers:aws");
            assert.strictEqual(providers.length, 1);
            const provider = providers[0];
            assert.strictEqual(provider.inputs.region, "eu-west-1");
            assert.deepStrictEqual(JSON.parse(provider.inputs.allowedAccountIds), [FORENSIC]);
            const custom = stack.resources.filter((r) => r.type.startsWith("aws:"));
            assert.ok(custom.length > 40);
            for (const r of custom) {
                assert.match(r.provider, /pulumi:providers:aws::forensic::/, `${r.type} ${r.name} does not use the forensic provider`);
            }
        });

        it("creates every resource inside a component (parent: this)", () => {
            for (const r of stack.resources.filter((x) => x.type.startsWith("aws:"))) {
                assert.ok(r.opts.parent, `${r.type} ${r.name} has no parent component`);
            }
        });

        it("tags every resource through the provider's default tags, config tags included", () => {
            const tags = JSON.parse(one(stack, "pulumi:providers:aws", "forensic").inputs.defaultTags).tags;
            assert.deepStrictEqual(tags, {
                CostCenter: "security-operations",
                DataClassification: "evidence",
                Project: "ir-forensics",
                Stack: "forensic",
                ManagedBy: "pulumi",
            });
        });
    });

    describe("no path to the internet", () => {
        // The SIFT image builds have their own VPC with an internet gateway (sift-pipeline.spec.ts): the
        // analysis VPC must not be reachable from it, nor have a way out of its own.
        const analysisVpc = () => one(stack, aws.ec2.Vpc, "analysis").state.id;

        it("has no NAT gateway, egress-only gateway, elastic IP or instance, and no internet gateway on the analysis VPC", () => {
            for (const cls of [aws.ec2.NatGateway, aws.ec2.EgressOnlyInternetGateway, aws.ec2.Eip, aws.ec2.Instance]) {
                assert.deepStrictEqual(ofType(stack, cls), []);
            }
            assert.deepStrictEqual(ofType(stack, aws.ec2.InternetGateway).map((g) => g.inputs.vpcId), [one(stack, aws.ec2.Vpc, "sift").state.id]);
            assert.deepStrictEqual(ofType(stack, aws.ec2.VpcPeeringConnection), []);
        });

        it("has no public subnet, no route and no public IPs in the analysis VPC", () => {
            const subnets = ofType(stack, aws.ec2.Subnet).filter((s) => s.inputs.vpcId === analysisVpc());
            assert.strictEqual(subnets.length, 3);
            for (const subnet of subnets) {
                assert.strictEqual(subnet.inputs.mapPublicIpOnLaunch, false, subnet.name);
                assert.notStrictEqual(subnet.inputs.assignIpv6AddressOnCreation, true);
            }
            const analysisTables = ofType(stack, aws.ec2.RouteTable).filter((t) => t.inputs.vpcId === analysisVpc());
            const buildTable = one(stack, aws.ec2.RouteTableAssociation, "sift-public").inputs.routeTableId;
            assert.deepStrictEqual(ofType(stack, aws.ec2.Route).map((r) => r.inputs.routeTableId), [buildTable]);
            for (const table of analysisTables) {
                assert.deepStrictEqual(asList(table.inputs.routes), [], `${table.name} has inline routes`);
            }
        });

        it("leaves the VPC's default security group without rules", () => {
            const sg = one(stack, aws.ec2.DefaultSecurityGroup, "analysis-default-sg");
            assert.strictEqual(sg.inputs.ingress, undefined);
            assert.strictEqual(sg.inputs.egress, undefined);
        });
    });

    describe("buckets", () => {
        it("encrypts every bucket, blocks public access, enforces owner, versions, and denies non-TLS", () => {
            const buckets = ofType(stack, aws.s3.Bucket);
            assert.strictEqual(buckets.length, 3, "evidence, logs, trail logs");
            for (const bucket of buckets) {
                const [sse] = forBucket(stack, aws.s3.BucketServerSideEncryptionConfiguration, bucket);
                assert.ok(sse, `${bucket.name} has no default encryption`);
                assert.match(sse.inputs.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, /^(aws:kms|AES256)$/);
                const [pab] = forBucket(stack, aws.s3.BucketPublicAccessBlock, bucket);
                assert.deepStrictEqual(
                    [pab.inputs.blockPublicAcls, pab.inputs.blockPublicPolicy, pab.inputs.ignorePublicAcls, pab.inputs.restrictPublicBuckets],
                    [true, true, true, true],
                    bucket.name,
                );
                assert.strictEqual(forBucket(stack, aws.s3.BucketOwnershipControls, bucket)[0].inputs.rule.objectOwnership, "BucketOwnerEnforced");
                assert.strictEqual(forBucket(stack, aws.s3.BucketVersioning, bucket)[0].inputs.versioningConfiguration.status, "Enabled");
                const [policy] = forBucket(stack, aws.s3.BucketPolicy, bucket);
                const tls = statement(policyOf(policy), "DenyInsecureTransport");
                assert.strictEqual(tls.Effect, "Deny");
                assert.deepStrictEqual(tls.Condition, { Bool: { "aws:SecureTransport": "false" } });
                assert.deepStrictEqual(tls.Resource, [bucket.state.arn, `${bucket.state.arn}/*`]);
                assert.strictEqual(bucket.inputs.forceDestroy, false);
            }
        });

        it("logs every evidence request to the log bucket, partitioned by date", () => {
            const logging = one(stack, aws.s3.BucketLogging, "evidence-access-logging");
            assert.strictEqual(logging.inputs.bucket, evidence.state.bucket);
            assert.strictEqual(logging.inputs.targetBucket, bucketNamed(stack, "logs").state.bucket);
            assert.strictEqual(logging.inputs.targetPrefix, "s3-access/evidence/");
        });

        it("lets only the log services of this account write to the log bucket", () => {
            const logs = bucketNamed(stack, "logs");
            const doc = policyOf(forBucket(stack, aws.s3.BucketPolicy, logs)[0]);
            const puts = doc.Statement.filter((s) => s.Action === "s3:PutObject");
            assert.deepStrictEqual(puts.map((s) => s.Principal.Service).sort(), ["delivery.logs.amazonaws.com", "logging.s3.amazonaws.com"]);
            for (const s of puts) {
                assert.strictEqual(s.Condition.StringEquals["aws:SourceAccount"], FORENSIC);
            }
        });
    });

    describe("evidence bucket", () => {
        it("has Object Lock with the configured default retention", () => {
            assert.strictEqual(evidence.inputs.objectLockEnabled, true);
            const lock = one(stack, aws.s3.BucketObjectLockConfiguration, "evidence-object-lock");
            assert.deepStrictEqual(lock.inputs.rule, { defaultRetention: { mode: "GOVERNANCE", days: 90 } });
            assert.strictEqual(lock.inputs.bucket, evidence.state.bucket);
        });

        it("encrypts with its own rotating KMS key and an S3 bucket key", () => {
            const key = one(stack, aws.kms.Key, "evidence-key");
            assert.strictEqual(key.inputs.enableKeyRotation, true);
            const rule = forBucket(stack, aws.s3.BucketServerSideEncryptionConfiguration, evidence)[0].inputs.rules[0];
            assert.deepStrictEqual(rule, { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.state.arn }, bucketKeyEnabled: true });
        });

        it("archives after the configured days and never expires by default", () => {
            const lifecycle = one(stack, aws.s3.BucketLifecycleConfiguration, "evidence-lifecycle");
            const archive = lifecycle.inputs.rules.find((r: any) => r.id === "archive");
            assert.deepStrictEqual(archive.transitions, [{ days: 395, storageClass: "GLACIER" }]);
            assert.deepStrictEqual(archive.noncurrentVersionTransitions, [{ noncurrentDays: 395, storageClass: "GLACIER" }]);
            for (const rule of lifecycle.inputs.rules) {
                assert.strictEqual(rule.expiration, undefined, rule.id);
                assert.strictEqual(rule.noncurrentVersionExpiration, undefined, rule.id);
            }
            assert.ok(lifecycle.inputs.rules.some((r: any) => r.abortIncompleteMultipartUpload?.daysAfterInitiation === 14));
        });

        // The evidence and its custody trail: retained on destroy, and protected from deletion or replacement.
        const custody = [
            [aws.s3.Bucket, "evidence-bucket"], [aws.kms.Key, "evidence-key"], [aws.s3.BucketObjectLockConfiguration, "evidence-object-lock"],
            [aws.s3.BucketPolicy, "evidence-bucket-policy"], [aws.cloudtrail.Trail, "evidence-trail"], [aws.s3.Bucket, "evidence-trail-logs"],
        ] as const;

        it("survives pulumi destroy, with its key, lock, policy and logs", () => {
            for (const [cls, name] of [...custody, [aws.s3.Bucket, "logs"]] as const) {
                assert.strictEqual(one(stack, cls, name).opts.retainOnDelete, true, `${name} is not retained`);
            }
        });

        it("is protected: a refactor that drops the evidence bucket, its key, lock, policy, trail or the trail's logs fails the update", () => {
            for (const [cls, name] of [...custody, [aws.s3.BucketPolicy, "evidence-trail-logs-policy"]] as const) {
                assert.strictEqual(one(stack, cls, name).opts.protect, true, `${name} is not protected`);
            }
        });

        describe("bucket policy", () => {
            let doc: { Statement: any[] };
            before(() => {
                doc = policyOf(one(stack, aws.s3.BucketPolicy, "evidence-bucket-policy"));
            });

            it("denies deletes and governance bypass to everyone but the break-glass role", () => {
                const s = statement(doc, "DenyEvidenceDestruction");
                assert.strictEqual(s.Effect, "Deny");
                assert.strictEqual(s.Principal, "*");
                for (const action of ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]) {
                    assert.ok(s.Action.includes(action), action);
                }
                assert.deepStrictEqual(s.Condition, { ArnNotLike: { "aws:PrincipalArn": [BREAK_GLASS] } });
                const hold = statement(doc, "DenyLegalHoldRelease");
                assert.strictEqual(hold.Condition.StringEquals["s3:object-lock-legal-hold"], "OFF");
            });

            it("denies policy, lock and lifecycle changes to everyone but the break-glass and deploy roles", () => {
                const s = statement(doc, "DenyProtectionChanges");
                for (const action of ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"]) {
                    assert.ok(s.Action.includes(action), action);
                }
                assert.deepStrictEqual(s.Condition, { ArnNotLike: { "aws:PrincipalArn": [BREAK_GLASS, DEPLOY] } });
            });

            it("denies uploads that ask for another encryption or key, only when they ask (parts and completions carry no header)", () => {
                const key = one(stack, aws.kms.Key, "evidence-key").state.arn;
                // "IfExists" would count an absent header as a match and refuse every UploadPart.
                assert.deepStrictEqual(statement(doc, "DenyUploadsNotEncryptedWithKms").Condition, {
                    StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
                    Null: { "s3:x-amz-server-side-encryption": "false" },
                });
                assert.deepStrictEqual(statement(doc, "DenyUploadsWithAnotherKey").Condition, {
                    StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": key },
                    Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
                });
                assert.ok(statement(doc, "DenyCustomerProvidedKeys").Condition.Null);
            });

            it("lets only the security account's responder roles write, and only under cases/", () => {
                const allow = statement(doc, "RespondersWriteCases");
                assert.deepStrictEqual(allow.Principal, { AWS: `arn:aws:iam::${SECURITY}:root` });
                assert.deepStrictEqual(allow.Condition, { ArnLike: { "aws:PrincipalArn": RESPONDERS } });
                assert.strictEqual(allow.Resource, `${evidenceArn}/cases/*`);
                assert.ok(allow.Action.includes("s3:PutObject"));
                const others = statement(doc, "DenyWritesByOthers");
                assert.deepStrictEqual(others.Condition.ArnNotLike["aws:PrincipalArn"], [
                    RESPONDERS,
                    `arn:aws:iam::${FORENSIC}:role/ir-forensics/investigator/ir-forensics-workstation-writer`,
                    BREAK_GLASS,
                ]);
                assert.strictEqual(statement(doc, "DenyResponderWritesOutsideCases").NotResource, `${evidenceArn}/cases/*`);
                assert.strictEqual(statement(doc, "DenyAnalysisWritesOutsideAnalysis").NotResource, `${evidenceArn}/analysis/*`);
            });

            it("lets investigators read and keeps everyone else from reading", () => {
                const read = statement(doc, "InvestigatorsRead");
                assert.strictEqual(read.Effect, "Allow");
                const readers = read.Condition.ArnLike["aws:PrincipalArn"];
                assert.ok(readers.includes(`arn:aws:iam::${FORENSIC}:role/ir-forensics/investigator/*`));
                assert.ok(readers.some((r: string) => r.includes("AWSReservedSSO_Investigator_")));
                assert.ok(!read.Action.includes("s3:PutObject"));
                const deny = statement(doc, "DenyReadsByOthers");
                assert.deepStrictEqual(deny.Action, ["s3:GetObject", "s3:GetObjectVersion"]);
            });

            it("denies principals outside the organization", () => {
                const s = statement(doc, "DenyPrincipalsOutsideOrganization");
                assert.strictEqual(s.Condition.StringNotEqualsIfExists["aws:PrincipalOrgID"], "o-a1b2c3d4e5");
            });

            it("allows nothing to everyone", () => {
                for (const s of doc.Statement.filter((x) => x.Effect === "Allow")) {
                    assert.notStrictEqual(s.Principal, "*", s.Sid);
                    assert.ok(s.Condition, `${s.Sid} has no condition`);
                }
            });
        });

        describe("KMS key policy", () => {
            let doc: { Statement: any[] };
            before(() => {
                doc = policyOf(one(stack, aws.kms.Key, "evidence-key"));
            });

            it("keeps the account as administrator", () => {
                assert.deepStrictEqual(statement(doc, "AccountAdministration").Principal, { AWS: `arn:aws:iam::${FORENSIC}:root` });
            });

            it("lets responder roles encrypt and generate data keys only through S3", () => {
                const s = statement(doc, "RespondersEncryptEvidenceThroughS3");
                assert.ok(s.Action.includes("kms:GenerateDataKey") && s.Action.includes("kms:Encrypt"));
                assert.deepStrictEqual(s.Condition, {
                    ArnLike: { "aws:PrincipalArn": RESPONDERS },
                    StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
                });
            });

            it("lets investigators decrypt", () => {
                const s = statement(doc, "InvestigatorsDecrypt");
                assert.deepStrictEqual(s.Action, ["kms:Decrypt", "kms:DescribeKey"]);
            });

            it("lets EC2 copy snapshots into this account under the key, with grants for AWS resources only", () => {
                const grants = statement(doc, "EbsGrantsForAwsResources");
                assert.strictEqual(grants.Action, "kms:CreateGrant");
                assert.deepStrictEqual(grants.Condition.Bool, { "kms:GrantIsForAWSResource": "true" });
                assert.strictEqual(grants.Condition.StringEquals["kms:ViaService"], "ec2.eu-west-1.amazonaws.com");
                assert.strictEqual(statement(doc, "EbsSnapshotCopiesAndVolumes").Condition.StringEquals["kms:CallerAccount"], FORENSIC);
            });

            it("denies scheduling the key's deletion to everyone but the break-glass role", () => {
                const s = statement(doc, "DenyCryptoShredding");
                assert.ok(s.Action.includes("kms:ScheduleKeyDeletion"));
                assert.deepStrictEqual(s.Condition, { ArnNotLike: { "aws:PrincipalArn": [BREAK_GLASS] } });
            });

            it("denies key policy, rotation and alias changes to everyone but the break-glass and deploy roles", () => {
                const s = statement(doc, "DenyKeyProtectionChanges");
                assert.deepStrictEqual(s.Action, ["kms:PutKeyPolicy", "kms:DisableKeyRotation", "kms:UpdateAlias", "kms:DeleteAlias"]);
                assert.deepStrictEqual(s.Condition, { ArnNotLike: { "aws:PrincipalArn": [BREAK_GLASS, DEPLOY] } });
            });
        });
    });

    describe("CloudTrail", () => {
        it("records evidence object reads and writes with log file validation, management events off", () => {
            const trail = one(stack, aws.cloudtrail.Trail, "evidence-trail");
            assert.strictEqual(trail.inputs.enableLogFileValidation, true);
            assert.strictEqual(trail.inputs.name, "ir-forensics-evidence-access");
            assert.strictEqual(trail.inputs.advancedEventSelectors.length, 1);
            const fields = Object.fromEntries(trail.inputs.advancedEventSelectors[0].fieldSelectors.map((f: any) => [f.field, f]));
            assert.deepStrictEqual(fields.eventCategory.equals, ["Data"]);
            assert.deepStrictEqual(fields["resources.type"].equals, ["AWS::S3::Object"]);
            assert.deepStrictEqual(fields["resources.ARN"].startsWiths, [`${evidenceArn}/`]);
            assert.strictEqual(trail.inputs.s3BucketName, bucketNamed(stack, "evidence-trail-logs").state.bucket);
        });

        it("writes to its own log bucket whose policy exists first and admits only this trail", () => {
            const trail = one(stack, aws.cloudtrail.Trail, "evidence-trail");
            const policy = one(stack, aws.s3.BucketPolicy, "evidence-trail-logs-policy");
            const deps = asList(trail.opts.dependsOn as any[]);
            assert.strictEqual(deps.length, 1);
            const put = policyOf(policy).Statement.find((s) => s.Action === "s3:PutObject");
            assert.deepStrictEqual(put.Principal, { Service: "cloudtrail.amazonaws.com" });
            assert.deepStrictEqual(put.Condition.ArnLike["aws:SourceArn"], [trail.state.arn]);
        });

        it("adds management events only when configured", async () => {
            const withMgmt = await renderStack("forensic", { config: { "ir-forensics:trail.managementEvents": true } });
            const trail = one(withMgmt, aws.cloudtrail.Trail, "evidence-trail");
            assert.strictEqual(trail.inputs.advancedEventSelectors.length, 2);
            assert.deepStrictEqual(trail.inputs.advancedEventSelectors[1].fieldSelectors, [{ field: "eventCategory", equals: ["Management"] }]);
            assert.strictEqual(trail.inputs.isMultiRegionTrail, true);
        });
    });

    describe("AWS Config", () => {
        it("is off by default", () => {
            assert.deepStrictEqual(ofType(stack, aws.cfg.Recorder), []);
        });

        it("records to the log bucket when enabled", async () => {
            const withConfig = await renderStack("forensic", { config: { "ir-forensics:awsConfig.enabled": true } });
            const recorder = one(withConfig, aws.cfg.Recorder, "config-recorder");
            assert.strictEqual(recorder.inputs.recordingGroup.allSupported, true);
            const channel = one(withConfig, aws.cfg.DeliveryChannel, "config-delivery");
            const logs = one(withConfig, aws.s3.Bucket, "logs");
            assert.strictEqual(channel.inputs.s3BucketName, logs.state.bucket);
            const doc = policyOf(one(withConfig, aws.s3.BucketPolicy, "logs-policy"));
            assert.ok(doc.Statement.some((s) => s.Principal?.Service === "config.amazonaws.com" && s.Action === "s3:PutObject"));
            assert.strictEqual(one(withConfig, aws.cfg.RecorderStatus, "config-status").inputs.isEnabled, true);
        });
    });

    describe("Object Lock settings follow config", () => {
        it("uses COMPLIANCE and the configured days, and expires only when asked", async () => {
            const s = await renderStack("forensic", {
                config: {
                    "ir-forensics:evidence.objectLockMode": "COMPLIANCE",
                    "ir-forensics:evidence.objectLockDays": 30,
                    "ir-forensics:evidence.archiveAfterDays": 60,
                    "ir-forensics:evidence.archiveStorageClass": "DEEP_ARCHIVE",
                    "ir-forensics:evidence.expireAfterDays": 2555,
                },
            });
            assert.deepStrictEqual(one(s, aws.s3.BucketObjectLockConfiguration, "evidence-object-lock").inputs.rule, { defaultRetention: { mode: "COMPLIANCE", days: 30 } });
            const archive = one(s, aws.s3.BucketLifecycleConfiguration, "evidence-lifecycle").inputs.rules.find((r: any) => r.id === "archive");
            assert.deepStrictEqual(archive.transitions, [{ days: 60, storageClass: "DEEP_ARCHIVE" }]);
            assert.deepStrictEqual(archive.expiration, { days: 2555 });
        });

        it("refuses to deploy, naming evidence.deployRoleArns, when no break-glass or deploy role is configured", async () => {
            await assert.rejects(renderStack("forensic", {
                config: { "ir-forensics:evidence.breakGlassRoleArn": undefined, "ir-forensics:evidence.deployRoleArns": undefined },
            }), (err: Error) => err instanceof ConfigError && /ir-forensics:evidence\.deployRoleArns: expected a list that matches .*\(it is empty\)/.test(err.message));
        });

        it("denies to everyone, root included, in a preview-only render with neither role configured", async () => {
            process.env[PREVIEW_ONLY_ENV] = "true";
            try {
                const s = await renderStack("forensic", {
                    preview: true,
                    config: { "ir-forensics:evidence.breakGlassRoleArn": undefined, "ir-forensics:evidence.deployRoleArns": undefined },
                });
                const doc = policyOf(one(s, aws.s3.BucketPolicy, "evidence-bucket-policy"));
                assert.strictEqual(statement(doc, "DenyEvidenceDestruction").Condition, undefined);
                assert.strictEqual(statement(doc, "DenyProtectionChanges").Condition, undefined);
            } finally {
                delete process.env[PREVIEW_ONLY_ENV];
            }
        });
    });

    describe("the identity that deploys", () => {
        const SSO_ADMIN = `arn:aws:iam::${FORENSIC}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef`;

        it("reads the caller's role ARN with its path (getCallerIdentity, then getSessionContext)", () => {
            const session = stack.invokes.find((i) => i.token === "aws:iam/getSessionContext:getSessionContext");
            assert.ok(session, "no getSessionContext");
            assert.strictEqual(session.inputs.arn, `arn:aws:sts::${FORENSIC}:assumed-role/ir-forensics-deploy/pulumi`);
        });

        it("refuses an identity the evidence policies would lock out, naming the key and the caller", async () => {
            await assert.rejects(renderStack("forensic", { callerRoleArn: SSO_ADMIN }), (err: Error) =>
                err instanceof ConfigError && err.message.includes("ir-forensics:evidence.deployRoleArns") &&
                err.message.includes(SSO_ADMIN) && err.message.includes(`it lists ${DEPLOY}`));
        });

        it("accepts a caller matched by a deploy-role pattern", async () => {
            const pattern = `arn:aws:iam::${FORENSIC}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*`;
            const s = await renderStack("forensic", { callerRoleArn: SSO_ADMIN, config: { "ir-forensics:evidence.deployRoleArns": [pattern] } });
            assert.deepStrictEqual(policyOf(one(s, aws.s3.BucketPolicy, "evidence-bucket-policy")).Statement
                .find((x: any) => x.Sid === "DenyProtectionChanges").Condition.ArnNotLike["aws:PrincipalArn"], [BREAK_GLASS, pattern]);
        });

        it("accepts the break-glass role, and only warns in a preview that is never applied", () => {
            assert.strictEqual(checkDeployer(BREAK_GLASS, [DEPLOY], BREAK_GLASS, false), undefined);
            assert.match(checkDeployer(SSO_ADMIN, [DEPLOY], BREAK_GLASS, true) ?? "", /evidence\.deployRoleArns does not match .*pulumi up by this identity would be refused/);
            assert.throws(() => checkDeployer(SSO_ADMIN, [DEPLOY], BREAK_GLASS, false), ConfigError);
        });

        it("matches ARNs as IAM's ArnLike does: part by part, wildcards within a part", () => {
            assert.ok(arnLike(SSO_ADMIN, `arn:aws:iam::${FORENSIC}:role/*`));
            assert.ok(arnLike(SSO_ADMIN, "arn:aws:iam::*:role/aws-reserved/*/AWSReservedSSO_Admin_????????????????"));
            assert.ok(!arnLike(SSO_ADMIN, `arn:aws:iam::${FORENSIC}:role/AWSReservedSSO_Admin_*`));
            assert.ok(!arnLike(SSO_ADMIN, `arn:aws:iam::*${FORENSIC}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef0`));
            assert.ok(!arnLike(`arn:aws:iam::${FORENSIC}:role/deploy`, "arn:aws:iam::999999999999:role/deploy"));
            assert.ok(!arnLike(`arn:aws:iam::${FORENSIC}:role/deploy`, `arn:aws:iam::${FORENSIC}:role/deplo.`), "a dot is literal");
        });

        it("tells an IAM user to list role ARNs", () => {
            assert.throws(() => checkDeployer(`arn:aws:iam::${FORENSIC}:user/alice`, [DEPLOY], undefined, false), /run as a role, the list takes role ARNs/);
        });
    });

    describe("investigator roles", () => {
        it("gives the workstation SSM core, evidence read and decrypt, trusted by EC2 of this account only", () => {
            const role = one(stack, aws.iam.Role, "investigator-reader");
            assert.strictEqual(role.inputs.name, "ir-forensics-workstation");
            assert.strictEqual(role.inputs.path, "/ir-forensics/investigator/");
            const trust = policyOf(role, "assumeRolePolicy").Statement[0];
            assert.deepStrictEqual(trust.Principal, { Service: "ec2.amazonaws.com" });
            assert.deepStrictEqual(trust.Condition, { StringEquals: { "aws:SourceAccount": FORENSIC } });
            assert.match(one(stack, aws.iam.RolePolicyAttachment, "investigator-reader-ssm-core").inputs.policyArn, /AmazonSSMManagedInstanceCore$/);
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "investigator-reader-access"));
            assert.strictEqual(statement(doc, "ReadEvidence").Resource, `${evidenceArn}/*`);
            assert.ok(!doc.Statement.some((s) => asList(s.Action).includes("s3:PutObject")), "reader can write");
            assert.strictEqual(one(stack, aws.iam.InstanceProfile, "investigator-reader").inputs.role, role.state.name);
        });

        it("lets the writer variant write under analysis/ only", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "investigator-writer-access"));
            const writes = doc.Statement.filter((s) => asList(s.Action).includes("s3:PutObject"));
            assert.strictEqual(writes.length, 1);
            assert.strictEqual(writes[0].Resource, `${evidenceArn}/analysis/*`);
            assert.ok(one(stack, aws.iam.InstanceProfile, "investigator-writer"));
        });
    });

    describe("analysis network", () => {
        it("builds the configured VPC with N private subnets over distinct AZs", () => {
            assert.strictEqual(one(stack, aws.ec2.Vpc, "analysis").inputs.cidrBlock, "10.66.0.0/16");
            const subnets = ofType(stack, aws.ec2.Subnet, /^analysis-/);
            assert.deepStrictEqual(subnets.map((s) => s.inputs.cidrBlock), ["10.66.0.0/24", "10.66.1.0/24", "10.66.2.0/24"]);
            assert.deepStrictEqual(subnets.map((s) => s.inputs.availabilityZone), ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
            assert.strictEqual(ofType(stack, aws.ec2.RouteTableAssociation, /^analysis-/).length, 3);
        });

        it("spreads more subnets than AZs round-robin", async () => {
            const s = await renderStack("forensic", { config: { "ir-forensics:analysisNetwork.subnetCount": 5 }, zones: ["eu-west-1a", "eu-west-1b"] });
            assert.deepStrictEqual(ofType(s, aws.ec2.Subnet, /^analysis-/).map((x) => x.inputs.availabilityZone), ["eu-west-1a", "eu-west-1b", "eu-west-1a", "eu-west-1b", "eu-west-1a"]);
        });

        it("renders 200 subnets and refuses 201 with an error naming the key", async () => {
            const s = await renderStack("forensic", { config: { "ir-forensics:analysisNetwork.subnetCount": 200 } });
            assert.strictEqual(ofType(s, aws.ec2.Subnet, /^analysis-/).length, 200);
            await assert.rejects(
                renderStack("forensic", { config: { "ir-forensics:analysisNetwork.subnetCount": 201 } }),
                (err: unknown) => err instanceof ConfigError && /ir-forensics:analysisNetwork\.subnetCount/.test(err.message),
            );
        });

        it("has a free S3 gateway endpoint on the route table whose policy names only our buckets", () => {
            const endpoint = one(stack, aws.ec2.VpcEndpoint, "analysis-s3");
            assert.strictEqual(endpoint.inputs.vpcEndpointType, "Gateway");
            assert.strictEqual(endpoint.inputs.serviceName, "com.amazonaws.eu-west-1.s3");
            assert.deepStrictEqual(endpoint.inputs.routeTableIds, [one(stack, aws.ec2.RouteTable, "analysis-private").state.id ?? endpoint.inputs.routeTableIds[0]]);
            const doc = policyOf(endpoint);
            assert.deepStrictEqual(statement(doc, "EvidenceBucket").Resource, [evidenceArn, `${evidenceArn}/*`]);
            assert.deepStrictEqual(statement(doc, "ModuleStoreSymbols").Resource, [
                `arn:aws:s3:::ir-forensics-modules-${SECURITY}-eu-west-1`,
                `arn:aws:s3:::ir-forensics-modules-${SECURITY}-eu-west-1/symbols/*`,
            ]);
            for (const s of doc.Statement) {
                assert.strictEqual(s.Condition?.StringEquals?.["aws:PrincipalAccount"], FORENSIC, s.Sid);
                for (const r of asList(s.Resource)) {
                    assert.notStrictEqual(r, "*");
                }
            }
        });

        it("eic mode: one Instance Connect Endpoint, SSH to workstations only from it, no interface endpoints", () => {
            const eic = one(stack, aws.ec2transitgateway.InstanceConnectEndpoint, "analysis-eic");
            assert.strictEqual(eic.inputs.preserveClientIp, false);
            const eicSg = one(stack, aws.ec2.SecurityGroup, "analysis-eic");
            assert.deepStrictEqual(eic.inputs.securityGroupIds, [eicSg.state.id]);
            const workstationSg = one(stack, aws.ec2.SecurityGroup, "analysis-workstation");
            const ingress = ofType(stack, aws.vpc.SecurityGroupIngressRule);
            assert.strictEqual(ingress.length, 1);
            assert.deepStrictEqual(
                [ingress[0].inputs.securityGroupId, ingress[0].inputs.fromPort, ingress[0].inputs.toPort, ingress[0].inputs.referencedSecurityGroupId],
                [workstationSg.state.id, 22, 22, eicSg.state.id],
            );
            assert.strictEqual(ofType(stack, aws.ec2.VpcEndpoint).filter((e) => e.inputs.vpcEndpointType === "Interface").length, 0);
        });

        it("lets workstations out only on 443 to S3's prefix list", () => {
            const workstationSg = one(stack, aws.ec2.SecurityGroup, "analysis-workstation");
            const egress = ofType(stack, aws.vpc.SecurityGroupEgressRule).filter((r) => r.inputs.securityGroupId === workstationSg.state.id);
            assert.strictEqual(egress.length, 1);
            assert.deepStrictEqual([egress[0].inputs.fromPort, egress[0].inputs.toPort, egress[0].inputs.prefixListId], [443, 443, "pl-6da54004"]);
            for (const rule of [...ofType(stack, aws.vpc.SecurityGroupEgressRule, /^analysis-/), ...ofType(stack, aws.vpc.SecurityGroupIngressRule)]) {
                assert.strictEqual(rule.inputs.cidrIpv4, undefined, `${rule.name} opens a CIDR`);
                assert.strictEqual(rule.inputs.cidrIpv6, undefined, `${rule.name} opens a CIDR`);
            }
        });

        it("ssm mode: ssm and ssmmessages endpoints with private DNS in the configured AZs, no EIC, no SSH", async () => {
            const s = await renderStack("forensic", {
                config: { "ir-forensics:analysisNetwork.access": "ssm", "ir-forensics:analysisNetwork.ssmEndpointAzCount": 2 },
            });
            const interfaces = ofType(s, aws.ec2.VpcEndpoint).filter((e) => e.inputs.vpcEndpointType === "Interface");
            assert.deepStrictEqual(interfaces.map((e) => e.inputs.serviceName).sort(), ["com.amazonaws.eu-west-1.ssm", "com.amazonaws.eu-west-1.ssmmessages"]);
            const subnets = ofType(s, aws.ec2.Subnet).map((x) => x.state.id);
            for (const e of interfaces) {
                assert.strictEqual(e.inputs.privateDnsEnabled, true);
                assert.deepStrictEqual(e.inputs.subnetIds, subnets.slice(0, 2));
            }
            assert.deepStrictEqual(ofType(s, aws.ec2transitgateway.InstanceConnectEndpoint), []);
            const workstationSg = one(s, aws.ec2.SecurityGroup, "analysis-workstation");
            assert.deepStrictEqual(ofType(s, aws.vpc.SecurityGroupIngressRule).filter((r) => r.inputs.securityGroupId === workstationSg.state.id), []);
            const endpointSg = one(s, aws.ec2.SecurityGroup, "analysis-ssm");
            const toEndpoints = ofType(s, aws.vpc.SecurityGroupEgressRule).filter((r) => r.inputs.referencedSecurityGroupId === endpointSg.state.id);
            assert.strictEqual(toEndpoints.length, 1);
            assert.strictEqual(toEndpoints[0].inputs.fromPort, 443);
        });

        it("ssm mode adds ec2messages only when asked", async () => {
            const s = await renderStack("forensic", {
                config: { "ir-forensics:analysisNetwork.access": "ssm", "ir-forensics:analysisNetwork.ssmEc2MessagesEndpoint": true },
            });
            assert.ok(ofType(s, aws.ec2.VpcEndpoint).some((e) => e.inputs.serviceName === "com.amazonaws.eu-west-1.ec2messages"));
        });

        it("ssm mode refuses more endpoint AZs than the region has, naming the key", async () => {
            await assert.rejects(
                renderStack("forensic", {
                    config: { "ir-forensics:analysisNetwork.access": "ssm", "ir-forensics:analysisNetwork.ssmEndpointAzCount": 3 },
                    zones: ["eu-west-1a", "eu-west-1b"],
                }),
                /ir-forensics:analysisNetwork\.ssmEndpointAzCount: expected at most 2/,
            );
        });

        it("logs all traffic to the log bucket", () => {
            const flow = one(stack, aws.ec2.FlowLog, "analysis-flow-log");
            assert.strictEqual(flow.inputs.trafficType, "ALL");
            assert.strictEqual(flow.inputs.logDestinationType, "s3");
            assert.strictEqual(flow.inputs.logDestination, `${bucketNamed(stack, "logs").state.arn}/flow-logs/`);
        });
    });

    it("exports what the security stack and later issues read", () => {
        for (const key of [
            "accountId", "region", "evidenceBucketName", "evidenceBucketArn", "evidenceKeyArn", "vpcId", "subnetIds",
            "workstationSecurityGroupId", "workstationRoleArn", "workstationProfileArn", "workstationWriterRoleArn", "workstationWriterProfileArn",
        ]) {
            assert.ok(stack.outputs[key] !== undefined && stack.outputs[key] !== "", `missing output ${key}`);
        }
        assert.strictEqual(stack.outputs.accountId, FORENSIC);
        assert.strictEqual(stack.outputs.evidenceBucketArn, evidenceArn);
        assert.strictEqual(stack.outputs.subnetIds.length, 3);
    });
});
