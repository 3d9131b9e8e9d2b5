// The GitHub Actions workflows can only really run on GitHub, so here they are checked twice: against
// GitHub's schema (action-validator) and for the promises a user relies on (tests before deploy, OIDC
// instead of stored keys, both stacks covered, pinned actions).
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { PREVIEW_ONLY_ENV } from "../../stacks/deployer";
import { PROJECT_ROOT } from "../../emulator/paths";

const workflowDir = path.join(PROJECT_ROOT, ".github", "workflows");
const validatorBin = path.join(PROJECT_ROOT, "node_modules", ".bin", "action-validator");

interface Step {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
}

interface Job {
    needs?: string | string[];
    if?: string;
    uses?: string;
    environment?: string | { name: string };
    permissions?: Record<string, string> | string;
    strategy?: { matrix?: Record<string, unknown> };
    steps?: Step[];
}

interface Workflow {
    on: Record<string, unknown>;
    permissions?: Record<string, string> | string;
    concurrency?: string | { group: string; "cancel-in-progress"?: boolean | string };
    jobs: Record<string, Job>;
}

interface ValidatorResult {
    status: number | null;
    output: string;
}

function runValidator(file: string): ValidatorResult {
    const result = spawnSync(validatorBin, [file], { encoding: "utf8", timeout: 60000 });
    if (result.error) {
        throw result.error;
    }
    return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

function workflowFiles(): string[] {
    return fs
        .readdirSync(workflowDir)
        .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
        .sort()
        .map((f) => path.join(workflowDir, f));
}

function loadWorkflow(name: string): Workflow {
    // js-yaml 4 follows YAML 1.2, so the `on:` key stays the string "on" (not the boolean true).
    const doc = yaml.load(fs.readFileSync(path.join(workflowDir, name), "utf8"));
    assert.ok(doc !== null && typeof doc === "object", `${name} is not a YAML mapping`);
    return doc as Workflow;
}

function job(wf: Workflow, id: string): Job {
    const found = wf.jobs[id];
    assert.ok(found, `job "${id}" is missing (jobs: ${Object.keys(wf.jobs).join(", ")})`);
    return found;
}

function needsOf(j: Job): string[] {
    if (j.needs === undefined) {
        return [];
    }
    return Array.isArray(j.needs) ? j.needs : [j.needs];
}

function stepsUsing(j: Job, action: string): Step[] {
    return (j.steps ?? []).filter((s) => s.uses !== undefined && s.uses.split("@")[0] === action);
}

function onlyStepUsing(j: Job, action: string): Step {
    const steps = stepsUsing(j, action);
    assert.equal(steps.length, 1, `expected exactly one ${action} step`);
    return steps[0];
}

// Every step (and reusable-workflow job) of a workflow, for checks that apply to all of them.
function allUses(wf: Workflow): string[] {
    const uses: string[] = [];
    for (const j of Object.values(wf.jobs)) {
        if (j.uses !== undefined) {
            uses.push(j.uses);
        }
        for (const s of j.steps ?? []) {
            if (s.uses !== undefined) {
                uses.push(s.uses);
            }
        }
    }
    return uses;
}

// The job's own permissions replace the workflow's, so a job-level block wins when present.
function effectivePermission(wf: Workflow, j: Job, scope: string): string | undefined {
    const perms = j.permissions ?? wf.permissions;
    if (perms === undefined) {
        return undefined;
    }
    return typeof perms === "string" ? perms : perms[scope];
}

function isTrue(value: unknown): boolean {
    return value === true || value === "true";
}

// `npm ci` then `npm test`, in that order: the same gate for a preview and for a deploy.
function assertRunsUnitTests(j: Job): void {
    const runs = (j.steps ?? []).map((s) => (s.run ?? "").trim());
    const ci = runs.indexOf("npm ci");
    const test = runs.indexOf("npm test");
    assert.ok(ci >= 0, "the test job does not run npm ci");
    assert.ok(test > ci, "the test job does not run npm test after npm ci");
}

describe("GitHub Actions workflows", () => {
    const files = workflowFiles();

    it("has the preview and deploy workflows", () => {
        const names = files.map((f) => path.basename(f));
        assert.ok(names.includes("preview.yml"), `workflows: ${names.join(", ")}`);
        assert.ok(names.includes("deploy.yml"), `workflows: ${names.join(", ")}`);
    });

    describe("action-validator", () => {
        for (const file of files) {
            it(`accepts ${path.basename(file)}`, () => {
                const { status, output } = runValidator(file);
                assert.equal(status, 0, `action-validator rejected ${path.basename(file)}:\n${output}`);
            });
        }

        it("rejects a workflow with a misspelt key (proves the check above can fail)", () => {
            const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "workflows-spec-"));
            try {
                const broken = fs
                    .readFileSync(path.join(workflowDir, "preview.yml"), "utf8")
                    .replace(/^(\s+)runs-on:/m, "$1runs-onn:");
                assert.ok(broken.includes("runs-onn:"), "the typo was not introduced");
                const file = path.join(tmp, "preview.yml");
                fs.writeFileSync(file, broken);
                const { status, output } = runValidator(file);
                assert.notEqual(status, 0, `action-validator accepted a broken workflow:\n${output}`);
                assert.match(output, /runs-onn/);
            } finally {
                fs.rmSync(tmp, { recursive: true, force: true });
            }
        });
    });

    describe("every workflow", () => {
        for (const file of files) {
            const name = path.basename(file);

            it(`${name} pins every action to a version tag or a commit SHA`, () => {
                for (const uses of allUses(loadWorkflow(name))) {
                    if (uses.startsWith("./") || uses.startsWith("docker://")) {
                        continue; // local actions and images are not branch references
                    }
                    const ref = uses.split("@")[1];
                    assert.ok(ref !== undefined, `${uses} has no @ref`);
                    assert.match(ref, /^(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, `${uses} is not pinned to a tag or SHA`);
                }
            });

            it(`${name} keeps secrets out of run scripts`, () => {
                // Secrets reach only the action that needs them, through env: no script can echo them.
                for (const [id, j] of Object.entries(loadWorkflow(name).jobs)) {
                    for (const step of j.steps ?? []) {
                        assert.doesNotMatch(step.run ?? "", /secrets\./, `${id}: a run script reads a secret`);
                        for (const value of Object.values(step.env ?? {})) {
                            if (String(value).includes("secrets.")) {
                                assert.ok(step.uses !== undefined, `${id}: a secret is exported to a run step`);
                            }
                        }
                    }
                }
            });

            it(`${name} uses no static AWS keys`, () => {
                const text = fs.readFileSync(file, "utf8");
                assert.doesNotMatch(text, /aws-access-key-id|aws-secret-access-key/i, "static key input");
                assert.doesNotMatch(text, /AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID/i, "static key variable");
                const wf = loadWorkflow(name);
                for (const [id, j] of Object.entries(wf.jobs)) {
                    for (const step of stepsUsing(j, "aws-actions/configure-aws-credentials")) {
                        const role = step.with?.["role-to-assume"];
                        assert.ok(typeof role === "string" && role.length > 0, `${id}: no role-to-assume`);
                        assert.ok(
                            effectivePermission(wf, j, "id-token") === "write",
                            `${id}: OIDC needs id-token: write`,
                        );
                    }
                }
            });
        }
    });

    describe("preview.yml", () => {
        const wf = loadWorkflow("preview.yml");

        it("runs on every pull request and by hand", () => {
            assert.ok("pull_request" in wf.on, "no pull_request trigger");
            assert.ok("workflow_dispatch" in wf.on, "no workflow_dispatch trigger");
            // No paths/branches filter: a preview must appear on every PR.
            assert.equal(wf.on.pull_request, null);
        });

        it("runs the unit tests before previewing", () => {
            assertRunsUnitTests(job(wf, "test"));
            assert.ok(needsOf(job(wf, "preview")).includes("test"), "preview does not need test");
        });

        it("previews both stacks, each with its own OIDC role", () => {
            const preview = job(wf, "preview");
            const matrix = preview.strategy?.matrix ?? {};
            assert.deepEqual(matrix.stack, ["forensic", "security"]);
            const include = (matrix.include ?? []) as Record<string, unknown>[];
            const roleOf = (stack: string) => include.find((e) => e.stack === stack)?.["role-arn"];
            assert.equal(roleOf("forensic"), "${{ vars.AWS_FORENSIC_PREVIEW_ROLE_ARN }}");
            assert.equal(roleOf("security"), "${{ vars.AWS_SECURITY_PREVIEW_ROLE_ARN }}");

            const creds = onlyStepUsing(preview, "aws-actions/configure-aws-credentials");
            assert.equal(creds.with?.["role-to-assume"], "${{ matrix.role-arn }}");
            assert.equal(creds.with?.["aws-region"], "${{ vars.AWS_REGION }}");
        });

        it("runs pulumi preview and comments the diff on the PR", () => {
            const preview = job(wf, "preview");
            const pulumi = onlyStepUsing(preview, "pulumi/actions");
            assert.equal(pulumi.with?.command, "preview");
            assert.equal(pulumi.with?.policyPacks, "policy", "the preview runs the policy pack");
            assert.ok(isTrue(pulumi.with?.["comment-on-pr"]), "comment-on-pr is not true");
            assert.ok(isTrue(pulumi.with?.diff), "diff is not true");
            assert.match(String(pulumi.with?.["stack-name"]), /\$\{\{ vars\.PULUMI_ORG \}\}.*\$\{\{ matrix\.stack \}\}/);
            assert.equal(pulumi.with?.["cloud-url"], "${{ vars.PULUMI_BACKEND_URL }}");
            assert.equal(pulumi.env?.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}");
            // Its read-only role is no deploy role: the forensic stack's deployer check must only warn here.
            assert.equal(pulumi.env?.[PREVIEW_ONLY_ENV], "true");

            // The program is run by the action, so its dependencies must be installed before.
            const steps = preview.steps ?? [];
            const install = steps.findIndex((s) => s.run === "npm ci");
            assert.ok(install >= 0 && install < steps.indexOf(pulumi), "npm ci must come before pulumi/actions");
        });

        it("asks only for the permissions it needs", () => {
            assert.deepEqual(wf.permissions, { contents: "read" });
            assert.deepEqual(job(wf, "preview").permissions, {
                contents: "read",
                "id-token": "write",
                "pull-requests": "write",
            });
        });

        it("cancels an outdated preview of the same PR", () => {
            assert.ok(wf.concurrency !== undefined && typeof wf.concurrency === "object", "no concurrency block");
            assert.match(wf.concurrency.group, /pull_request\.number/);
            assert.equal(wf.concurrency["cancel-in-progress"], true);
        });
    });

    describe("deploy.yml", () => {
        const wf = loadWorkflow("deploy.yml");
        const stacks = ["forensic", "security"] as const;

        it("runs on a v* tag and by hand, with a choice of stacks defaulting to both", () => {
            const push = wf.on.push as { tags?: string[]; branches?: string[] } | undefined;
            assert.deepEqual(push?.tags, ["v*"]);
            assert.equal(push?.branches, undefined, "a branch push must not deploy");
            const dispatch = wf.on.workflow_dispatch as { inputs?: Record<string, { default?: string }> } | null;
            assert.equal(dispatch?.inputs?.stacks?.default, "both");
        });

        it("tests, then deploys forensic, then security", () => {
            assertRunsUnitTests(job(wf, "test"));
            assert.deepEqual(needsOf(job(wf, "forensic")), ["test"]);
            const securityNeeds = needsOf(job(wf, "security"));
            assert.ok(securityNeeds.includes("forensic"), "security does not need forensic");
            assert.ok(securityNeeds.includes("test"), "security does not need test");
            // security may run when forensic was skipped on purpose, but never after a failed test.
            assert.match(String(job(wf, "security").if), /needs\.test\.result == 'success'/);
        });

        for (const stack of stacks) {
            it(`deploys ${stack} with pulumi up in its own environment and role`, () => {
                const j = job(wf, stack);
                assert.equal(j.environment, stack);
                const creds = onlyStepUsing(j, "aws-actions/configure-aws-credentials");
                assert.equal(creds.with?.["role-to-assume"], `\${{ vars.AWS_${stack.toUpperCase()}_DEPLOY_ROLE_ARN }}`);
                const pulumi = onlyStepUsing(j, "pulumi/actions");
                assert.equal(pulumi.with?.command, "up");
                assert.equal(pulumi.with?.policyPacks, "policy", "the deploy runs the policy pack");
                assert.equal(pulumi.with?.["stack-name"], `\${{ vars.PULUMI_ORG }}/ir-forensics/${stack}`);
                assert.equal(pulumi.with?.["cloud-url"], "${{ vars.PULUMI_BACKEND_URL }}");
                assert.equal(pulumi.env?.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}");
                assert.equal(pulumi.env?.[PREVIEW_ONLY_ENV], undefined, "a deploy must refuse a locked-out identity");
                assert.equal(effectivePermission(wf, j, "pull-requests"), undefined);
            });
        }

        it("never runs two deploys at once, nor cancels one halfway", () => {
            assert.ok(wf.concurrency !== undefined && typeof wf.concurrency === "object", "no concurrency block");
            assert.ok(wf.concurrency.group.length > 0);
            assert.ok(!isTrue(wf.concurrency["cancel-in-progress"]), "cancel-in-progress would interrupt pulumi up");
        });
    });
});
