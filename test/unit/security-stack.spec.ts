import * as assert from "assert";
import { one, ofType, renderStack } from "../support/pulumi";

const FORENSIC_STACK = "organization/ir-forensics/forensic";
const forensicOutputs = (accountId = "111122223333") => ({
    [FORENSIC_STACK]: {
        accountId,
        region: "eu-west-1",
        evidenceBucketName: "evidence-bucket-1a2b3c",
        evidenceBucketArn: "arn:aws:s3:::evidence-bucket-1a2b3c",
        evidenceKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/0000-1111",
    },
});

describe("security stack (Pulumi.security.yaml)", () => {
    it("builds with its own provider, which accepts only the security account", async () => {
        const stack = await renderStack("security", { stackOutputs: forensicOutputs() });
        const provider = one(stack, "pulumi:providers:aws", "security");
        assert.deepStrictEqual(JSON.parse(provider.inputs.allowedAccountIds), ["222233334444"]);
        assert.strictEqual(JSON.parse(provider.inputs.defaultTags).tags.Project, "ir-forensics");
    });

    it("reads the forensic stack named in config and passes its evidence store on", async () => {
        const stack = await renderStack("security", { stackOutputs: forensicOutputs() });
        const ref = one(stack, "pulumi:pulumi:StackReference", "forensic");
        assert.strictEqual(ref.inputs.name, FORENSIC_STACK);
        assert.strictEqual(stack.outputs.forensicAccountId, "111122223333");
        assert.strictEqual(stack.outputs.evidenceBucketArn, "arn:aws:s3:::evidence-bucket-1a2b3c");
        assert.strictEqual(stack.outputs.evidenceKeyArn, "arn:aws:kms:eu-west-1:111122223333:key/0000-1111");
    });

    it("runs the security program for a stack named security-prod without a role key", async () => {
        const stack = await renderStack("security-prod", {
            file: "security",
            config: { "ir-forensics:role": undefined, "ir-forensics:forensicStack": undefined },
            stackOutputs: { "organization/ir-forensics/forensic": forensicOutputs()[FORENSIC_STACK] },
        });
        assert.strictEqual(stack.outputs.role, "security");
        assert.strictEqual(ofType(stack, "pulumi:pulumi:StackReference").length, 1);
    });

    it("refuses a forensic stack that belongs to another account, naming both keys", async () => {
        await assert.rejects(
            renderStack("security", { stackOutputs: forensicOutputs("999999999999") }),
            /ir-forensics:forensicStack\) belongs to account 999999999999, but ir-forensics:accounts\.forensic is 111122223333/,
        );
    });

    it("fails when the role cannot be told from the stack name", async () => {
        await assert.rejects(
            renderStack("prod", { file: "security", config: { "ir-forensics:role": undefined }, stackOutputs: forensicOutputs() }),
            /ir-forensics:role: expected forensic or security/,
        );
    });
});
