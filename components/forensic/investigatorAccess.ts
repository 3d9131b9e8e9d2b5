import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { managedPolicyArn, policyJson, serviceTrustPolicy, Statement } from "../shared/iam";

export interface InvestigatorAccessArgs {
    partition: string;
    region: string;
    /** The forensic account. */
    accountId: string;
    /** IAM path of both roles (the evidence bucket and key policies match on it). */
    path: string;
    /** Name of the read-only workstation role and instance profile. */
    readerRoleName: string;
    /** Name of the writer variant, which may also write under `analysis/`. */
    writerRoleName: string;
    evidenceBucketArn: pulumi.Input<string>;
    evidenceKeyArn: pulumi.Input<string>;
    /** Key prefix the writer variant may write under, e.g. `analysis/`. */
    analysisPrefix: string;
    /** Security account's module store: workstations read its Volatility symbol tables. */
    moduleStore: ModuleStoreRef;
}

interface Workstation {
    role: aws.iam.Role;
    profile: aws.iam.InstanceProfile;
}

/**
 * The analysis workstation's roles and instance profiles: Session Manager core, read of the evidence
 * bucket and of the module store's symbols, decrypt through S3; the writer variant may also write its
 * findings under `analysis/` (and nowhere else, which the bucket policy enforces too).
 */
export class InvestigatorAccess extends pulumi.ComponentResource {
    public readonly readerRole: aws.iam.Role;
    public readonly readerProfile: aws.iam.InstanceProfile;
    public readonly writerRole: aws.iam.Role;
    public readonly writerProfile: aws.iam.InstanceProfile;

    constructor(name: string, args: InvestigatorAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:InvestigatorAccess", name, {}, opts);
        const reader = this.workstation(`${name}-reader`, args.readerRoleName, args, false);
        const writer = this.workstation(`${name}-writer`, args.writerRoleName, args, true);
        this.readerRole = reader.role;
        this.readerProfile = reader.profile;
        this.writerRole = writer.role;
        this.writerProfile = writer.profile;
        this.registerOutputs({
            readerRoleArn: this.readerRole.arn,
            readerProfileArn: this.readerProfile.arn,
            writerRoleArn: this.writerRole.arn,
            writerProfileArn: this.writerProfile.arn,
        });
    }

    private workstation(name: string, roleName: string, args: InvestigatorAccessArgs, writes: boolean): Workstation {
        const p = args.partition;
        const s3Service = `s3.${args.region}.amazonaws.com`;
        const role = new aws.iam.Role(name, {
            name: roleName,
            path: args.path,
            description: writes
                ? "ir-forensics analysis workstation: reads evidence, writes findings under analysis/"
                : "ir-forensics analysis workstation: reads evidence",
            assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", args.accountId),
            maxSessionDuration: 3600,
        }, { parent: this });
        new aws.iam.RolePolicyAttachment(`${name}-ssm-core`, {
            role: role.name,
            policyArn: managedPolicyArn(p, "AmazonSSMManagedInstanceCore"),
        }, { parent: this });
        const statements: Statement[] = [
            {
                Sid: "ReadEvidence",
                Effect: "Allow",
                Action: ["s3:GetObject", "s3:GetObjectVersion"],
                Resource: pulumi.interpolate`${args.evidenceBucketArn}/*`,
            },
            {
                Sid: "ListEvidence",
                Effect: "Allow",
                Action: ["s3:ListBucket", "s3:GetBucketLocation"],
                Resource: args.evidenceBucketArn,
            },
            {
                Sid: "DecryptEvidenceThroughS3",
                Effect: "Allow",
                Action: ["kms:Decrypt", "kms:DescribeKey"],
                Resource: args.evidenceKeyArn,
                Condition: { StringEquals: { "kms:ViaService": s3Service } },
            },
            ...symbolTableStatements(p, args.region, args.moduleStore),
        ];
        if (writes) {
            statements.push(
                {
                    Sid: "WriteAnalysis",
                    Effect: "Allow",
                    Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    Resource: pulumi.interpolate`${args.evidenceBucketArn}/${args.analysisPrefix}*`,
                },
                {
                    Sid: "EncryptAnalysisThroughS3",
                    Effect: "Allow",
                    Action: ["kms:Encrypt", "kms:GenerateDataKey"],
                    Resource: args.evidenceKeyArn,
                    Condition: { StringEquals: { "kms:ViaService": s3Service } },
                },
            );
        }
        new aws.iam.RolePolicy(`${name}-access`, { role: role.name, policy: policyJson(statements) }, { parent: this });
        const profile = new aws.iam.InstanceProfile(name, { name: roleName, path: args.path, role: role.name }, { parent: this });
        return { role, profile };
    }
}

/** The module store (security account) as the forensic account's roles see it. */
export interface ModuleStoreRef {
    bucketName: string;
    symbolsPrefix: string;
    accountId: string;
}

/** Read access to the module store's Volatility symbol tables: list and get `symbols/`, decrypt through S3. */
export function symbolTableStatements(partition: string, region: string, store: ModuleStoreRef): Statement[] {
    const bucketArn = `arn:${partition}:s3:::${store.bucketName}`;
    return [
        { Sid: "ReadSymbolTables", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucketArn}/${store.symbolsPrefix}*` },
        {
            Sid: "ListSymbolTables",
            Effect: "Allow",
            Action: "s3:ListBucket",
            Resource: bucketArn,
            Condition: { StringLike: { "s3:prefix": `${store.symbolsPrefix}*` } },
        },
        {
            // The module store's key lives in the security account and is created after this stack.
            Sid: "DecryptSymbolTablesThroughS3",
            Effect: "Allow",
            Action: "kms:Decrypt",
            Resource: `arn:${partition}:kms:${region}:${store.accountId}:key/*`,
            Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
        },
    ];
}
