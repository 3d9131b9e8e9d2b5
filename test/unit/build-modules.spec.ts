/**
 * The module builder script (imagebuilder/build-modules.sh), executed for real by bash on this machine.
 * What only a builder instance has is shimmed on PATH:
 *   - `uname` prints the AMI's running kernel and machine;
 *   - the package managers (`dnf`, `apt-get`, `apt-cache`) list the kernels "the repositories offer" and
 *     "install" headers (a build directory with a Makefile) and debug packages (a vmlinux that holds the
 *     kernel's banner) under IRF_ROOT; kernels listed in SHIM_NO_HEADERS / SHIM_NO_DEBUG fail to install;
 *   - `git` clones a stand-in source tree whose HEAD is the commit asked for (or SHIM_GIT_HEAD: a tampered
 *     clone); `go build` produces a stand-in dwarf2json that prints an ISF naming the banner;
 *   - `make` "builds" lime.ko with the vermagic of the kernel whose build directory it was given, and
 *     `modinfo` reads it back; `shutdown` records its arguments.
 * Real: bash, curl, openssl (the script's own SigV4 signing), sha256sum, xz, sort, sed, awk. Uploads go to
 * a moto S3 bucket in SECURITY, with credentials assumed into that account; the report is then merged by
 * the factory's indexer (functions/factory/moduleBuild.ts) and index.json validated against the shared schema.
 */
import * as assert from "assert";
import { execFile, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv from "ajv";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { clientsFor, DEFAULT_REGION } from "../../emulator/aws/aws-clients";
import { recordBuild } from "../../functions/factory/moduleBuild";
import { INDEX_KEY, parseIndex } from "../../functions/factory/moduleIndex";
import { PROJECT_ROOT } from "../support/pulumi";
import { SECURITY, useMoto } from "../support/moto";

const SCRIPT = path.join(PROJECT_ROOT, "imagebuilder", "build-modules.sh");
const SCHEMA = path.join(PROJECT_ROOT, "imagebuilder", "module-index.schema.json");
const LIME_COMMIT = "7511bffe797df9d87ae4db853ef123745cc5bc2c";
const D2J_COMMIT = "9f14607e0d339d463ea725fbd5c08aa7b7d40f75";

const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
/** bash itself, by absolute path: the script runs with a PATH of shims and selected real tools only. */
const BASH = spawnSync("bash", ["-c", "command -v bash"], { encoding: "utf8" }).stdout.trim();

/** The PATH shims, written once per run. */
const SHIMS: Record<string, string> = {
    uname: `#!/bin/bash
case "$1" in -r) echo "$SHIM_KERNEL" ;; -m) echo "$SHIM_MACHINE" ;; *) echo Linux ;; esac
`,
    // Shared by dnf, yum, apt-get and apt-cache (by the name it is called as).
    pkg: `#!/bin/bash
echo "$(basename "$0") $*" >>"$SHIM_LOG"
listed() { [[ " $1 " == *" $2 "* ]]; }
headers() { # kr dir
    listed "\${SHIM_NO_HEADERS:-}" "$1" && { echo "No match for argument: $1" >&2; exit 1; }
    mkdir -p "$2" && echo "# kernel build tree of $1" >"$2/Makefile"
}
debug() { # kr file
    listed "\${SHIM_NO_DEBUG:-}" "$1" && { echo "No match for argument: debug $1" >&2; exit 1; }
    mkdir -p "$(dirname "$2")" && printf '\\177ELF...Linux version %s (builder@example) (gcc 11) #1 SMP\\n\\0rest' "$1" >"$2"
}
case "$(basename "$0") $*" in
    *repoquery*) printf '%s\\n' $SHIM_OFFERED; exit 0 ;;
    "apt-cache search"*) for k in $SHIM_OFFERED; do echo "linux-headers-$k - Linux kernel headers"; done; exit 0 ;;
esac
for arg in "$@"; do
    case "$arg" in
        kernel-devel-*) headers "\${arg#kernel-devel-}" "$IRF_ROOT/usr/src/kernels/\${arg#kernel-devel-}" ;;
        kernel-debuginfo-*) debug "\${arg#kernel-debuginfo-}" "$IRF_ROOT/usr/lib/debug/lib/modules/\${arg#kernel-debuginfo-}/vmlinux" ;;
        linux-headers-*) k=\${arg#linux-headers-}; headers "$k" "$IRF_ROOT/usr/src/linux-headers-$k" ;;
        linux-image-unsigned-*-dbgsym) k=\${arg#linux-image-unsigned-}; k=\${k%-dbgsym}; debug "$k" "$IRF_ROOT/usr/lib/debug/boot/vmlinux-$k" ;;
        linux-image-*-dbgsym) exit 1 ;;
    esac
done
exit 0
`,
    git: `#!/bin/bash
echo "git $*" >>"$SHIM_LOG"
if [[ $1 == clone ]]; then mkdir -p "$4/src" && echo "obj-m := lime.o" >"$4/src/Makefile" && echo "$3" >"$4/.repo"; exit 0; fi
if [[ $1 == -C ]]; then
    dir=$2; shift 2
    case "$1" in
        checkout) echo "$4" >"$dir/.head" ;;
        rev-parse) if [[ -n \${SHIM_GIT_HEAD:-} ]]; then echo "$SHIM_GIT_HEAD"; else cat "$dir/.head"; fi ;;
    esac
fi
`,
    go: `#!/bin/bash
echo "go $* (in $PWD)" >>"$SHIM_LOG"
[[ $1 == build && $2 == -o ]] || exit 2
mkdir -p "$(dirname "$3")"
cat >"$3" <<'EOF'
#!/bin/bash
# stand-in dwarf2json: linux --elf FILE [--system-map FILE]
[[ $1 == linux && $2 == --elf ]] || exit 2
banner=$(grep -a -o -m 1 'Linux version [[:print:]]*' "$3")
printf '{"metadata":{"format":"6.2.0","producer":{"name":"dwarf2json"}},"symbols":{"linux_banner":{"constant_data":"%s"}}}\\n' "$banner"
EOF
chmod +x "$3"
`,
    make: `#!/bin/bash
echo "make $*" >>"$SHIM_LOG"
kdir="" src=""
while (($#)); do case "$1" in -C) kdir=$2; shift ;; M=*) src=\${1#M=} ;; esac; shift; done
[[ -f $kdir/Makefile && -f $src/Makefile ]] || exit 2
kr=$(basename "$kdir"); [[ $kr == build ]] && kr=$(basename "$(dirname "$kdir")"); kr=\${kr#linux-headers-}
printf 'ELF lime module\\nvermagic=%s SMP mod_unload modversions\\n' "$kr" >"$src/lime.ko"
`,
    modinfo: `#!/bin/bash
[[ $1 == -F && $2 == vermagic ]] || exit 2
sed -n 's/^vermagic=//p' "$3"
`,
    strip: "#!/bin/bash\nexit 0\n",
    shutdown: `#!/bin/bash
echo "shutdown $*" >>"$SHIM_LOG"
`,
};

function writeShims(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(SHIMS)) {
        fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
    }
    for (const alias of ["dnf", "yum", "apt-get", "apt-cache"]) {
        fs.copyFileSync(path.join(dir, "pkg"), path.join(dir, alias));
        fs.chmodSync(path.join(dir, alias), 0o755);
    }
}

interface Host {
    osRelease: string;
    kernel: string;
    machine: "x86_64" | "aarch64";
    offered: string[];
    noHeaders?: string[];
    noDebug?: string[];
    gitHead?: string;
    env?: Record<string, string>;
    /** Without dnf/yum (an apt host) or without apt (an rpm host). */
    hide?: string[];
}

interface Run {
    status: number | null;
    stderr: string;
    log: string;
    buildId: string;
}

describe("module builder script (build-modules.sh, bash with shims, uploads to moto)", function () {
    const moto = useMoto();
    const bucket = "ir-forensics-modules-222233334444-eu-west-1";
    let s3: S3Client;
    let credentials: Record<string, string>;
    let tmp: string;
    let runs = 0;

    before(async () => {
        await moto().reset();
        const clients = clientsFor(moto().endpoint, SECURITY);
        s3 = clients.s3;
        await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        // The builder instance's role, with the factory's own grant (uploads under lime/, symbols/, builds/ only):
        // the script signs with the credentials its instance profile gives it, which the strict layer checks.
        const role = await clients.iam.send(new CreateRoleCommand({
            RoleName: "builder", Path: "/ir-forensics/module-factory/",
            AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
        }));
        await clients.iam.send(new PutRolePolicyCommand({
            RoleName: "builder", PolicyName: "uploads",
            PolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Action: "s3:PutObject", Resource: ["lime/*", "symbols/*", "builds/*"].map((k) => `arn:aws:s3:::${bucket}/${k}`) }],
            }),
        }));
        const c = await moto().layer.serviceCredentials(role.Role?.Arn ?? "", "ec2.amazonaws.com", { account: SECURITY }, "builder");
        credentials = { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken };
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "irf-build-modules-"));
        writeShims(path.join(tmp, "shims"));
    });

    after(() => {
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** Runs the builder script asynchronously: the emulator it uploads to answers from this process. */
    async function run(host: Host): Promise<Run> {
        const dir = path.join(tmp, `run-${++runs}`);
        const root = path.join(dir, "root");
        fs.mkdirSync(path.join(root, "etc", "apt", "sources.list.d"), { recursive: true });
        fs.mkdirSync(path.join(root, "proc"), { recursive: true });
        fs.writeFileSync(path.join(root, "etc", "os-release"), host.osRelease);
        fs.writeFileSync(path.join(root, "proc", "version"), `Linux version ${host.kernel} (running@example) (gcc 11) #1 SMP PREEMPT\n`);
        // A PATH of the shims, then the real tools, minus the package managers this host does not have.
        const bin = path.join(dir, "bin");
        fs.cpSync(path.join(tmp, "shims"), bin, { recursive: true });
        for (const hidden of host.hide ?? []) {
            fs.rmSync(path.join(bin, hidden));
        }
        const realTools = path.join(dir, "real");
        fs.mkdirSync(realTools);
        for (const tool of ["curl", "openssl", "sha256sum", "xz", "sort", "sed", "awk", "grep", "tr", "cut", "date", "head", "tail", "mkdir",
            "cp", "mv", "rm", "cat", "od", "basename", "dirname", "chmod", "bash"]) {
            const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
            if (found.startsWith("/")) {
                fs.symlinkSync(found, path.join(realTools, tool));
            }
        }
        const log = path.join(dir, "shims.log");
        fs.writeFileSync(log, "");
        const buildId = `20261123T160000Z-test-${runs}`;
        const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
            execFile(BASH, [SCRIPT], {
            encoding: "utf8",
            timeout: 60_000,
            env: {
                PATH: `${bin}:${realTools}`,
                HOME: dir,
                IRF_ROOT: root,
                IRF_WORK_DIR: path.join(dir, "work"),
                IRF_S3_ENDPOINT: moto().endpoint,
                IRF_BUCKET: bucket,
                IRF_BUCKET_REGION: DEFAULT_REGION,
                IRF_BUILD_ID: buildId,
                IRF_SOURCE_AMI: "ami-0123456789abcdef0",
                IRF_SOURCE_REGION: "eu-west-1",
                IRF_LIME_REPO: "https://github.com/504ensicsLabs/LiME.git",
                IRF_LIME_COMMIT: LIME_COMMIT,
                IRF_LIME_VERSION: "1.9.1+git7511bff",
                IRF_DWARF2JSON_REPO: "https://github.com/volatilityfoundation/dwarf2json.git",
                IRF_DWARF2JSON_COMMIT: D2J_COMMIT,
                IRF_DWARF2JSON_VERSION: "0.9.0",
                IRF_MAX_MINUTES: "90",
                ...credentials,
                SHIM_LOG: log,
                SHIM_KERNEL: host.kernel,
                SHIM_MACHINE: host.machine,
                SHIM_OFFERED: host.offered.join(" "),
                SHIM_NO_HEADERS: (host.noHeaders ?? []).join(" "),
                SHIM_NO_DEBUG: (host.noDebug ?? []).join(" "),
                ...(host.gitHead ? { SHIM_GIT_HEAD: host.gitHead } : {}),
                ...host.env,
            },
            }, (err, _stdout, stderr) => resolve({ status: err ? (typeof err.code === "number" ? err.code : null) : 0, stderr }));
        });
        return { status: result.status, stderr: result.stderr, log: fs.readFileSync(log, "utf8"), buildId };
    }

    async function object(key: string): Promise<Buffer | undefined> {
        try {
            const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
            return Buffer.from(await out.Body!.transformToByteArray());
        } catch {
            return undefined;
        }
    }

    function indexFile(text: string): string {
        const file = path.join(tmp, "index.json");
        fs.writeFileSync(file, text);
        return file;
    }

    async function report(buildId: string): Promise<any> {
        const body = await object(`builds/${buildId}/report.json`);
        assert.ok(body, "no build report uploaded");
        return JSON.parse(body.toString("utf8"));
    }

    const AL2023 = 'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n';
    const AL_RUNNING = "6.1.100-1.10.amzn2023.x86_64";
    const AL_OLDER = "6.1.90-99.1.amzn2023.x86_64";
    const AL_NEWER = ["6.1.102-111.182.amzn2023.x86_64", "6.1.109-118.189.amzn2023.x86_64", "6.1.112-122.189.amzn2023.x86_64", "6.1.115-126.197.amzn2023.x86_64"];

    describe("an Amazon Linux 2023 x86_64 builder", () => {
        let result: Run;
        let built: any;
        before(async () => {
            result = await run({
                osRelease: AL2023,
                kernel: AL_RUNNING,
                machine: "x86_64",
                hide: ["apt-get", "apt-cache"],
                offered: [AL_OLDER, AL_RUNNING, ...AL_NEWER],
                noDebug: [AL_NEWER[0]],
                noHeaders: [AL_NEWER[1]],
                env: { IRF_SKIP_KERNELS: AL_NEWER[2], IRF_MAX_KERNELS: "3" },
            });
            built = await report(result.buildId);
        });

        it("builds the running kernel and the newest newer ones (up to the limit), skips what the index has, never an older one", () => {
            assert.strictEqual(result.status, 1, `one kernel's headers fail, so the build reports failure:\n${result.stderr}`);
            // Newest three newer: 115, 112 (skipped: already built), 109 (no headers); then the running one.
            const kernels = built.kernels.map((k: any) => [k.kernelRelease, k.status]).sort();
            assert.deepStrictEqual(kernels, [[AL_RUNNING, "built"], [AL_NEWER[1], "failed"], [AL_NEWER[3], "built"]].sort());
            assert.deepStrictEqual(built.skipped, [AL_NEWER[2]]);
            assert.doesNotMatch(result.log, new RegExp(`kernel-devel-${AL_OLDER.replace(/\./g, "\\.")}`));
        });

        it("uploads lime/<arch>/<release>/lime.ko and symbols/<arch>/<release>.json.xz with the SHA-256s the report gives", async () => {
            const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
            const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => /^(lime|symbols)\/x86_64\//.test(k)).sort();
            assert.deepStrictEqual(keys, [
                `lime/x86_64/${AL_RUNNING}/lime.ko`,
                `lime/x86_64/${AL_NEWER[3]}/lime.ko`,
                `symbols/x86_64/${AL_RUNNING}.json.xz`,
                `symbols/x86_64/${AL_NEWER[3]}.json.xz`,
            ]);
            for (const k of built.kernels.filter((x: any) => x.status === "built")) {
                const module = await object(k.path);
                assert.strictEqual(sha256(module!), k.sha256);
                assert.match(module!.toString("utf8"), new RegExp(`vermagic=${k.kernelRelease.replace(/\./g, "\\.")} `));
                const isf = await object(k.symbolsPath);
                assert.strictEqual(sha256(isf!), k.symbolsSha256);
                const json = spawnSync("xz", ["-dc"], { input: isf }).stdout.toString("utf8");
                assert.match(JSON.parse(json).symbols.linux_banner.constant_data, new RegExp(`^Linux version ${k.kernelRelease.replace(/\./g, "\\.")} `));
            }
        });

        it("records the banner (running kernel: /proc/version; others: the debug vmlinux), the tools and the failure's reason", () => {
            const byRelease = Object.fromEntries(built.kernels.map((k: any) => [k.kernelRelease, k]));
            assert.strictEqual(byRelease[AL_RUNNING].banner, `Linux version ${AL_RUNNING} (running@example) (gcc 11) #1 SMP PREEMPT`);
            assert.strictEqual(byRelease[AL_NEWER[3]].banner, `Linux version ${AL_NEWER[3]} (builder@example) (gcc 11) #1 SMP`);
            assert.strictEqual(byRelease[AL_NEWER[1]].step, "headers");
            assert.match(byRelease[AL_NEWER[1]].reason, /not installable/);
            assert.deepStrictEqual(built.tools, { lime: "1.9.1+git7511bff", limeCommit: LIME_COMMIT, dwarf2json: "0.9.0", dwarf2jsonCommit: D2J_COMMIT });
            assert.strictEqual(built.arch, "x86_64");
            assert.strictEqual(built.distribution, "amzn 2023");
            assert.strictEqual(built.sourceAmi, "ami-0123456789abcdef0");
        });

        it("builds LiME from the pinned commit and dwarf2json with go from its pinned commit, debug symbols from the debuginfo repositories", () => {
            assert.match(result.log, new RegExp(`git -C \\S+/lime checkout --quiet --detach ${LIME_COMMIT}`));
            assert.match(result.log, new RegExp(`git -C \\S+/dwarf2json checkout --quiet --detach ${D2J_COMMIT}`));
            assert.match(result.log, /go build -o \S+\/bin\/dwarf2json \. \(in \S+\/dwarf2json\)/);
            assert.match(result.log, new RegExp(`dnf -y -q --enablerepo=\\*debuginfo\\* install kernel-debuginfo-${AL_RUNNING.replace(/\./g, "\\.")}`));
            assert.match(result.log, new RegExp(`make -s -C \\S+/usr/src/kernels/${AL_RUNNING.replace(/\./g, "\\.")} M=\\S+ modules`));
        });

        it("schedules the hard time limit first and powers off at the end", () => {
            const shutdowns = result.log.split("\n").filter((l) => l.startsWith("shutdown "));
            assert.deepStrictEqual(shutdowns.map((l) => l.split(" ").slice(0, 3).join(" ")), ["shutdown -h +90", "shutdown -h now"]);
        });

        it("the indexer's index.json from this report validates against the shared schema, with every hash read back", async () => {
            const summary = await recordBuild(s3, bucket, `builds/${result.buildId}/report.json`);
            assert.deepStrictEqual(summary.built.map((b) => b.kernelRelease).sort(), [AL_RUNNING, AL_NEWER[3]].sort());
            assert.deepStrictEqual(summary.failed.map((f) => f.kernelRelease), [AL_NEWER[1]]);
            const text = (await object(INDEX_KEY))!.toString("utf8");
            const index = parseIndex(text);
            const ajv = new Ajv({ allErrors: true });
            const validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA, "utf8")));
            assert.ok(validate(JSON.parse(text)), JSON.stringify(validate.errors, null, 2));
            const x86 = index.modules.filter((m) => m.arch === "x86_64");
            assert.deepStrictEqual(x86.map((m) => m.kernelRelease), [AL_RUNNING, AL_NEWER[3]]);
            for (const m of x86) {
                assert.strictEqual(sha256((await object(m.path))!), m.sha256);
                assert.strictEqual(m.symbolsStatus, "available");
                assert.strictEqual(sha256((await object(m.symbolsPath!))!), m.symbolsSha256);
            }
            // One entry per line, for people; the suspect-host reader splits on braces anyway.
            assert.strictEqual(text.split("\n").filter((l) => l.includes('"kernelRelease"')).length, index.modules.length);
            // The reader itself: acquire-memory.sh's own index functions find this module and its hash.
            const reader = spawnSync(BASH, ["-c", [
                `eval "$(sed -n '/^index_objects()/,/^}/p;/^json_field()/,/^}/p' "$1")"`,
                `entry=$(index_objects "$2" | grep -F "\\"kernelRelease\\":\\"$3\\"" | grep -F '"arch":"x86_64"' | head -n 1)`,
                `json_field "$entry" path; json_field "$entry" sha256`,
            ].join("\n"), "reader", path.join(PROJECT_ROOT, "imagebuilder", "acquire-memory.sh"), indexFile(text), AL_RUNNING], { encoding: "utf8" });
            const running = x86.find((m) => m.kernelRelease === AL_RUNNING)!;
            assert.strictEqual(reader.stdout, `${running.path}\n${running.sha256}\n`, reader.stderr);
        });
    });

    it("an Ubuntu arm64 builder builds the -aws flavour's kernels and records symbols unavailable, with the reason, where ddebs has none", async () => {
        const running = "6.8.0-1012-aws";
        const newer = "6.8.0-1015-aws";
        const result = await run({
            osRelease: 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n',
            kernel: running,
            machine: "aarch64",
            hide: ["dnf", "yum"],
            offered: [running, newer],
            noDebug: [newer],
            env: { IRF_WANT_KERNELS: "6.1.0-18-cloud-arm64" },
        });
        assert.strictEqual(result.status, 0, result.stderr);
        const built = await report(result.buildId);
        assert.strictEqual(built.arch, "arm64");
        assert.deepStrictEqual(built.notOffered, ["6.1.0-18-cloud-arm64"], "a requested kernel of another distribution is not a failure");
        assert.deepStrictEqual(built.kernels.map((k: any) => k.kernelRelease).sort(), [running, newer]);
        const byRelease = Object.fromEntries(built.kernels.map((k: any) => [k.kernelRelease, k]));
        assert.strictEqual(byRelease[running].symbolsStatus, "available");
        assert.strictEqual(byRelease[running].symbolsPath, `symbols/arm64/${running}.json.xz`);
        assert.strictEqual(byRelease[newer].symbolsStatus, "unavailable");
        assert.match(byRelease[newer].symbolsReason, /no dbgsym package for 6\.8\.0-1015-aws on ddebs\.ubuntu\.com/);
        assert.ok(await object(`lime/arm64/${newer}/lime.ko`));
        assert.strictEqual(await object(`symbols/arm64/${newer}.json.xz`), undefined);
        assert.match(result.log, /apt-cache search --names-only \^linux-headers-\[0-9\.\]\+-\[0-9\]\+-aws\$/);
        assert.ok(result.log.indexOf("apt-get -q update") < result.log.indexOf("apt-cache search"), "apt lists are refreshed before anything is looked up");
        assert.match(result.log, /apt-get -y -q install --no-install-recommends ubuntu-dbgsym-keyring/);
        const sources = fs.readFileSync(path.join(tmp, `run-${runs}`, "root", "etc", "apt", "sources.list.d", "ddebs.list"), "utf8");
        assert.match(sources, /^deb http:\/\/ddebs\.ubuntu\.com noble main/);
        const summary = await recordBuild(s3, bucket, `builds/${result.buildId}/report.json`);
        assert.deepStrictEqual(summary.built.find((b) => b.kernelRelease === newer), {
            kernelRelease: newer, symbols: "unavailable", symbolsReason: byRelease[newer].symbolsReason,
        });
    });

    it("refuses a clone that is not the pinned commit: no module built, the report says why, and the builder still powers off", async () => {
        const result = await run({
            osRelease: AL2023, kernel: AL_RUNNING, machine: "x86_64", hide: ["apt-get", "apt-cache"], offered: [AL_RUNNING],
            gitHead: "0".repeat(40),
        });
        assert.strictEqual(result.status, 3);
        const built = await report(result.buildId);
        assert.deepStrictEqual(built.kernels, []);
        assert.ok(built.errors.some((e: string) => e.includes(`not the pinned commit ${LIME_COMMIT}`)), JSON.stringify(built.errors));
        assert.doesNotMatch(result.log, /^make /m);
        assert.match(result.log, /^shutdown -h now/m);
    });

    it("takes LiME's source from a local directory and builds no symbols with IRF_DWARF2JSON_BIN=none (the lab's builder)", async () => {
        const source = path.join(tmp, "lime-forensics-dkms");
        fs.mkdirSync(source, { recursive: true });
        fs.writeFileSync(path.join(source, "Makefile"), "obj-m := lime.o\n");
        fs.writeFileSync(path.join(source, "main.c"), "/* LiME */\n");
        const result = await run({
            osRelease: AL2023, kernel: AL_RUNNING, machine: "x86_64", hide: ["apt-get", "apt-cache"], offered: [AL_RUNNING],
            env: { IRF_LIME_SOURCE_DIR: source, IRF_DWARF2JSON_BIN: "none" },
        });
        assert.strictEqual(result.status, 0, result.stderr);
        assert.doesNotMatch(result.log, /^git /m, "nothing is cloned");
        assert.match(result.stderr, /LiME source from /);
        const built = await report(result.buildId);
        assert.deepStrictEqual(built.kernels.map((k: any) => [k.kernelRelease, k.symbolsStatus]), [[AL_RUNNING, "unavailable"]]);
        assert.match(built.kernels[0].symbolsReason, /IRF_DWARF2JSON_BIN=none/);
        assert.ok(await object(`lime/x86_64/${AL_RUNNING}/lime.ko`));
    });

    it("refuses bad input before doing anything, and still powers off", async () => {
        const result = await run({
            osRelease: AL2023, kernel: AL_RUNNING, machine: "x86_64", offered: [], env: { IRF_LIME_COMMIT: "v1.9.1" },
        });
        assert.strictEqual(result.status, 2);
        assert.match(result.stderr, /tool commits must be 40 hex digits/);
        assert.doesNotMatch(result.log, /^(git|dnf) /m);
        assert.match(result.log, /^shutdown -h now/m);
    });

    it("signs S3 requests exactly as the AWS SDK's SigV4 signer does", async () => {
        const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session+token/=" };
        const payload = sha256("module bytes");
        const key = "lime/x86_64/6.1.0-18+deb12-amd64/lime.ko";
        const host = `${bucket}.s3.eu-west-1.amazonaws.com`;
        const signer = new SignatureV4({ credentials, region: "eu-west-1", service: "s3", sha256: Sha256, uriEscapePath: false, applyChecksum: false });
        const signed = await signer.sign({
            method: "PUT", protocol: "https:", hostname: host, path: `/${key.replace(/\+/g, "%2B")}`,
            headers: { "host": host, "x-amz-content-sha256": payload },
            body: undefined,
        }, { signingDate: new Date("2026-11-23T16:00:00Z") });
        const ours = spawnSync("bash", ["-c", `source "$1"; shift; sigv4_authorization PUT "$1" "$2" "$3" 20261123T160000Z eu-west-1 "$4" "$5" "$6"`,
            "irf-sign", SCRIPT, `/${key.replace(/\+/g, "%2B")}`, host, payload, credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken], { encoding: "utf8" });
        assert.strictEqual(ours.status, 0, ours.stderr);
        assert.strictEqual(ours.stdout, signed.headers.authorization);
    });
});
