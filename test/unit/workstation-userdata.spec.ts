/**
 * The workstation's boot: the user data the launcher generates (shellcheck-clean, settings and scripts
 * embedded verbatim, within EC2's 16 KB), and the two host scripts it installs executed by bash here with
 * PATH shims for the block-device tools (lsblk, blkid, findmnt, blockdev, mount, mountpoint) and for
 * who, pgrep and systemctl.
 */
import * as assert from "assert";
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EvidenceVolume, UserDataInput, WorkstationScripts, workstationUserData } from "../../functions/workstation/workstation";
import { PROJECT_ROOT } from "../support/pulumi";

const SCRIPTS: WorkstationScripts = {
    mountEvidence: fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "mount-evidence.sh"), "utf8"),
    idleStop: fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "idle-stop.sh"), "utf8"),
};
const CASE_ID = "444455556666-eu-west-1-i-0123456789abcdef0-20261123T101500Z";

const EVIDENCE: EvidenceVolume[] = [
    { device: "/dev/sdf", snapshotId: "snap-0aaaaaaaaaaaaaaaa", sourceVolumeId: "vol-0source000000001", sourceDevice: "/dev/xvda", sizeGiB: 8 },
    { device: "/dev/sdg", snapshotId: "snap-0bbbbbbbbbbbbbbbb", sourceVolumeId: "vol-0source000000002", sourceDevice: "/dev/xvdf", sizeGiB: 100 },
];

function input(overrides: Partial<UserDataInput> = {}): UserDataInput {
    return {
        caseId: CASE_ID,
        region: "eu-west-1",
        evidenceBucket: "evidence-bucket-1a2b3c",
        casesPrefix: "cases/",
        moduleStore: { bucketName: "ir-forensics-modules-222233334444-eu-west-1", symbolsPrefix: "symbols/" },
        idleStopHours: 4,
        evidence: EVIDENCE,
        ...overrides,
    };
}

function shellcheck(text: string): SpawnSyncReturns<string> {
    return spawnSync("shellcheck", ["--severity=style", "--shell=bash", "-"], { input: text, encoding: "utf8" });
}

/** Writes executable bash shims into `dir`. */
function shims(dir: string, scripts: Record<string, string>): void {
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(scripts)) {
        fs.writeFileSync(path.join(dir, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    }
}

describe("workstation user data", () => {
    const userData = workstationUserData(input(), SCRIPTS);

    it("is a bash script that shellcheck finds clean, well within EC2's 16 KB", () => {
        assert.ok(userData.startsWith("#!/bin/bash\n"));
        const result = shellcheck(userData);
        assert.strictEqual(result.status, 0, result.stdout);
        assert.ok(Buffer.byteLength(userData) < 16 * 1024, `${Buffer.byteLength(userData)} bytes`);
    });

    it("writes the case's settings and the evidence listing", () => {
        assert.ok(userData.includes([
            "cat >/etc/ir-forensics/workstation.env <<'IRF_ENV'",
            `CASE_ID=${CASE_ID}`,
            "EVIDENCE_DISKS=2",
            "EVIDENCE_BUCKET=evidence-bucket-1a2b3c",
            "MODULE_STORE_BUCKET=ir-forensics-modules-222233334444-eu-west-1",
            "SYMBOLS_PREFIX=symbols/",
            "IDLE_STOP_HOURS=4",
            "AWS_DEFAULT_REGION=eu-west-1",
            "IRF_ENV",
        ].join("\n")));
        assert.ok(userData.includes("/dev/sdg\tsnap-0bbbbbbbbbbbbbbbb\tvol-0source000000002\t/dev/xvdf\n"));
        assert.ok(userData.includes(`aws s3 ls s3://evidence-bucket-1a2b3c/cases/${CASE_ID}/ --recursive`));
        assert.ok(userData.includes("cat >/etc/profile.d/ir-forensics.sh <<'IRF_PROFILE'\nexport AWS_DEFAULT_REGION=eu-west-1\nIRF_PROFILE\n"));
    });

    it("installs both host scripts verbatim and runs them from systemd at every boot", () => {
        assert.ok(userData.includes(`cat >/usr/local/sbin/ir-forensics-mount-evidence <<'IRF_SCRIPT'\n${SCRIPTS.mountEvidence}IRF_SCRIPT\n`));
        assert.ok(userData.includes(`cat >/usr/local/sbin/ir-forensics-idle-stop <<'IRF_SCRIPT'\n${SCRIPTS.idleStop}IRF_SCRIPT\n`));
        const unit = /cat >\/etc\/systemd\/system\/ir-forensics-evidence.service <<'IRF_UNIT'\n([\s\S]*?)IRF_UNIT/.exec(userData)?.[1] ?? "";
        assert.deepStrictEqual(unit.split("\n").filter((l) => l.startsWith("Exec")), [
            "ExecStart=/usr/local/sbin/ir-forensics-idle-stop --reset",
            "ExecStart=-/usr/local/sbin/ir-forensics-sync-symbols ${MODULE_STORE_BUCKET} ${SYMBOLS_PREFIX} ${AWS_DEFAULT_REGION}",
            "ExecStart=/usr/local/sbin/ir-forensics-mount-evidence",
        ]);
        assert.match(unit, /WantedBy=multi-user.target/);
        assert.match(userData, /OnUnitActiveSec=10min/);
        assert.match(userData, /systemctl enable --now ir-forensics-evidence.service ir-forensics-idle-stop.timer\n$/);
    });

    it("writes every file verbatim and enables the units when bash runs it (paths moved under a scratch root)", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "userdata-"));
        try {
            const bin = path.join(root, "bin");
            shims(bin, { systemctl: `echo "systemctl $*" >>${root}/systemctl.log` });
            const moved = userData
                .replace(/cat >\//g, `cat >${root}/`)
                .replace(/^install -d -m 0755 (.*)$/m, (_, dirs: string) => `install -d -m 0755 ${dirs.split(" ").map((d) => root + d).join(" ")}`)
                .replace(/^chmod 0755 (.*)$/m, (_, files: string) => `chmod 0755 ${files.split(" ").map((f) => root + f).join(" ")}`);
            // Nothing may land outside the scratch root (tests may run as root).
            const targets = [...moved.matchAll(/^(?:cat >(\S+) <<|(?:install -d -m 0755|chmod 0755) (.*)$)/gm)].flatMap((m) => (m[1] ?? m[2]).split(" "));
            assert.strictEqual(targets.length, 14, targets.join(" "));
            assert.deepStrictEqual(targets.filter((t) => !t.startsWith(`${root}/`)), []);
            fs.mkdirSync(path.join(root, "etc", "systemd", "system"), { recursive: true });
            fs.mkdirSync(path.join(root, "etc", "profile.d"), { recursive: true });
            const result = spawnSync("bash", ["-c", moved], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` } });
            assert.strictEqual(result.status, 0, result.stderr);
            const read = (f: string) => fs.readFileSync(path.join(root, f), "utf8");
            assert.strictEqual(read("usr/local/sbin/ir-forensics-mount-evidence"), SCRIPTS.mountEvidence);
            assert.strictEqual(read("usr/local/sbin/ir-forensics-idle-stop"), SCRIPTS.idleStop);
            assert.strictEqual(fs.statSync(path.join(root, "usr/local/sbin/ir-forensics-mount-evidence")).mode & 0o777, 0o755);
            // The settings file is what the scripts source: bash reads back exactly the values given.
            const env = spawnSync("bash", ["-c", `set -a; . ${root}/etc/ir-forensics/workstation.env; echo "$CASE_ID|$EVIDENCE_DISKS|$IDLE_STOP_HOURS|$AWS_DEFAULT_REGION"`], { encoding: "utf8" });
            assert.strictEqual(env.stdout.trim(), `${CASE_ID}|2|4|eu-west-1`);
            assert.match(read(`cases/${CASE_ID}/README.txt`), /mounted read-only/);
            assert.deepStrictEqual(read("systemctl.log").trim().split("\n"), [
                "systemctl daemon-reload",
                "systemctl enable --now ir-forensics-evidence.service ir-forensics-idle-stop.timer",
            ]);
            for (const unit of ["ir-forensics-evidence.service", "ir-forensics-idle-stop.service", "ir-forensics-idle-stop.timer"]) {
                assert.ok(fs.existsSync(path.join(root, "etc/systemd/system", unit)), unit);
            }
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    it("refuses a case id or setting a shell would interpret", () => {
        assert.throws(() => workstationUserData(input({ caseId: "x; rm -rf /" }), SCRIPTS), /caseId must be/);
        assert.throws(() => workstationUserData(input({ caseId: "$(reboot)" }), SCRIPTS), /caseId must be/);
        assert.throws(() => workstationUserData(input({ evidenceBucket: "bucket`id`" }), SCRIPTS), /EVIDENCE_BUCKET has characters/);
        assert.throws(() => workstationUserData(input({ region: "eu-west-1;id" }), SCRIPTS), /AWS_DEFAULT_REGION has characters/);
    });

    it("refuses a script that would end its here-document early", () => {
        assert.throws(() => workstationUserData(input(), { ...SCRIPTS, idleStop: "#!/bin/bash\nIRF_SCRIPT\nreboot\n" }), /here-document delimiter IRF_SCRIPT/);
    });
});

describe("mount-evidence.sh (bash, shimmed block devices)", function () {
    this.timeout(30_000);
    let dir: string;
    let caseDir: string;

    /**
     * A host with root on nvme0n1p1 and these evidence disks. `disks`: name → serial ("" = none);
     * `parts`: partition → parent; `types`: device → blkid TYPE; `failing`: devices whose mount fails.
     */
    function host(disks: Record<string, string>, parts: Record<string, string>, types: Record<string, string>, failing: string[] = []) {
        const fixture = path.join(dir, "fixture");
        fs.mkdirSync(fixture, { recursive: true });
        const allDisks = { nvme0n1: "vol0root0000000000", ...disks };
        const allParts = { nvme0n1p1: "nvme0n1", ...parts };
        fs.writeFileSync(path.join(fixture, "disks"), Object.entries(allDisks).map(([d, s]) => `${d} ${s || "-"}\n`).join(""));
        fs.writeFileSync(path.join(fixture, "parts"), Object.entries(allParts).map(([p, d]) => `${p} ${d}\n`).join(""));
        fs.writeFileSync(path.join(fixture, "types"), Object.entries({ "/dev/nvme0n1p1": "ext4", ...types }).map(([d, t]) => `${d} ${t}\n`).join(""));
        fs.writeFileSync(path.join(fixture, "failing"), failing.map((d) => `${d}\n`).join(""));
        fs.writeFileSync(path.join(fixture, "mounted"), "");
        fs.writeFileSync(path.join(dir, "env"), `CASE_ID=${CASE_ID}\nEVIDENCE_DISKS=${Object.keys(disks).length}\n`);
    }

    function run(extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
        const bin = path.join(dir, "bin");
        const fixture = path.join(dir, "fixture");
        shims(bin, {
            findmnt: `[ "$*" = "-no SOURCE /" ] && echo /dev/nvme0n1p1`,
            lsblk: [
                `F=${fixture}`,
                `case "$1" in`,
                `  -no) [ "$2" = PKNAME ] && awk -v p="\${3#/dev/}" '$1 == p { print $2 }' "$F/parts" ;;`,
                `  -dnpo) awk '{ print "/dev/" $1 " disk" }' "$F/disks" ;;`,
                `  -dno) awk -v d="\${3#/dev/}" '$1 == d && $2 != "-" { print $2 }' "$F/disks" ;;`,
                `  -lnpo) echo "$3 disk"; awk -v d="\${3#/dev/}" '$2 == d { print "/dev/" $1 " part" }' "$F/parts" ;;`,
                `  *) echo "lsblk shim: unexpected $*" >&2; exit 2 ;;`,
                `esac`,
            ].join("\n"),
            blkid: `awk -v d="\${@: -1}" '$1 == d { print $2; found = 1 } END { exit !found }' ${fixture}/types`,
            blockdev: `echo "blockdev $*" >>${dir}/calls`,
            mountpoint: `grep -qxF "$2" ${fixture}/mounted`,
            mount: [
                `echo "mount $*" >>${dir}/calls`,
                `device="\${@: -2:1}"; target="\${@: -1}"`,
                `grep -qxF "$device" ${fixture}/failing && { echo "mount: $device: wrong fs type" >&2; exit 32; }`,
                `echo "$target" >>${fixture}/mounted`,
            ].join("\n"),
        });
        return spawnSync("bash", [path.join(PROJECT_ROOT, "imagebuilder", "mount-evidence.sh")], {
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH}`,
                IRF_ENV_FILE: path.join(dir, "env"),
                IRF_CASES_ROOT: path.join(dir, "cases"),
                IRF_DISK_WAIT_SECONDS: "0",
                ...extraEnv,
            },
        });
    }

    const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");
    const report = () => fs.readFileSync(path.join(caseDir, "MOUNTS.txt"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "mount-evidence-"));
        caseDir = path.join(dir, "cases", CASE_ID);
    });
    afterEach(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("mounts ext4 ro,noload and XFS ro,norecovery,nouuid under /cases/<case>/<volume-id>/, read-only devices first, leaves LVM alone", () => {
        host(
            { nvme1n1: "vol0aaaaaaaaaaaaaaaa", nvme2n1: "vol0bbbbbbbbbbbbbbbb", xvdh: "" },
            { nvme1n1p1: "nvme1n1", nvme1n1p2: "nvme1n1", nvme1n1p3: "nvme1n1" },
            { "/dev/nvme1n1p1": "ext4", "/dev/nvme1n1p2": "xfs", "/dev/nvme1n1p3": "LVM2_member", "/dev/nvme2n1": "xfs", "/dev/xvdh": "ntfs" },
        );
        const result = run();
        assert.strictEqual(result.status, 0, result.stderr);
        const vol1 = `${caseDir}/vol-0aaaaaaaaaaaaaaaa`;
        const vol2 = `${caseDir}/vol-0bbbbbbbbbbbbbbbb`;
        const mounts = calls().filter((c) => c.startsWith("mount "));
        assert.deepStrictEqual(mounts, [
            `mount -t ext4 -o ro,noload /dev/nvme1n1p1 ${vol1}/nvme1n1p1`,
            `mount -t xfs -o ro,norecovery,nouuid /dev/nvme1n1p2 ${vol1}/nvme1n1p2`,
            `mount -t xfs -o ro,norecovery,nouuid /dev/nvme2n1 ${vol2}/disk`,
            `mount -t ntfs-3g -o ro /dev/xvdh ${caseDir}/xvdh/disk`,
        ]);
        // Every evidence device is read-only before anything reads it; the root disk is never touched.
        const all = calls();
        for (const device of ["/dev/nvme1n1", "/dev/nvme1n1p1", "/dev/nvme1n1p2", "/dev/nvme1n1p3", "/dev/nvme2n1", "/dev/xvdh"]) {
            const setro = all.indexOf(`blockdev --setro ${device}`);
            assert.ok(setro >= 0, `${device} not set read-only`);
            const mounted = all.findIndex((c) => c.startsWith("mount ") && c.includes(` ${device} `));
            assert.ok(mounted === -1 || setro < mounted, `${device} mounted before it was set read-only`);
        }
        assert.ok(!all.some((c) => c.includes("nvme0n1")), "touched the root disk");
        assert.deepStrictEqual(report().find((r) => r[1] === "/dev/nvme1n1p3"), ["-", "/dev/nvme1n1p3", "LVM2_member", "not mounted: activate or open by hand, read-only"]);
        assert.strictEqual(report().length, 5);
    });

    it("mounts nothing twice when run again at the next boot", () => {
        host({ nvme1n1: "vol0aaaaaaaaaaaaaaaa" }, {}, { "/dev/nvme1n1": "ext4" });
        assert.strictEqual(run().status, 0);
        assert.strictEqual(run().status, 0);
        assert.strictEqual(calls().filter((c) => c.startsWith("mount ")).length, 1);
        assert.match(report()[0][3], /already mounted/);
    });

    it("mounts the rest, records the failure and exits non-zero when one mount fails", () => {
        host(
            { nvme1n1: "vol0aaaaaaaaaaaaaaaa", nvme2n1: "vol0bbbbbbbbbbbbbbbb" },
            {},
            { "/dev/nvme1n1": "ext4", "/dev/nvme2n1": "ext4" },
            ["/dev/nvme1n1"],
        );
        const result = run();
        assert.strictEqual(result.status, 1);
        assert.deepStrictEqual(report().map((r) => [r[1], r[3]]), [
            ["/dev/nvme1n1", "mount -t ext4 -o ro,noload failed"],
            ["/dev/nvme2n1", "ro,noload"],
        ]);
    });

    it("reports an unknown filesystem and fails when fewer disks than expected are attached", () => {
        host({ nvme1n1: "vol0aaaaaaaaaaaaaaaa" }, {}, {});
        fs.writeFileSync(path.join(dir, "env"), `CASE_ID=${CASE_ID}\nEVIDENCE_DISKS=2\n`);
        const result = run();
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /expected 2 evidence disks, found 1/);
        assert.deepStrictEqual(report(), [["-", "/dev/nvme1n1", "unknown", "not mounted: no filesystem recognised"]]);
    });
});

describe("idle-stop.sh (bash, shimmed sessions)", function () {
    this.timeout(30_000);
    let dir: string;

    function run(state: { who?: string; ssm?: boolean; load?: string }, args: string[] = []): SpawnSyncReturns<string> {
        const bin = path.join(dir, "bin");
        shims(bin, {
            who: `printf '%s' ${JSON.stringify(state.who ?? "")}`,
            pgrep: `[ "$*" = "-f ssm-session-worker" ] && ${state.ssm ? "echo 4242" : "exit 1"}`,
            systemctl: `echo "systemctl $*" >>${dir}/calls`,
        });
        fs.writeFileSync(path.join(dir, "loadavg"), `${state.load ?? "0.01 0.05 0.10"} 1/123 4567\n`);
        return spawnSync("bash", [path.join(PROJECT_ROOT, "imagebuilder", "idle-stop.sh"), ...args], {
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH}`,
                IRF_ENV_FILE: path.join(dir, "env"),
                IRF_STATE_DIR: path.join(dir, "state"),
                IRF_LOADAVG_FILE: path.join(dir, "loadavg"),
            },
        });
    }
    const stamp = () => path.join(dir, "state", "last-activity");
    const ageStamp = (hours: number) => {
        const t = new Date(Date.now() - hours * 3600_000);
        fs.utimesSync(stamp(), t, t);
    };
    const poweredOff = () => fs.existsSync(path.join(dir, "calls")) && fs.readFileSync(path.join(dir, "calls"), "utf8").includes("systemctl poweroff");

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "idle-stop-"));
        fs.writeFileSync(path.join(dir, "env"), "IDLE_STOP_HOURS=4\n");
    });
    afterEach(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("powers off after the configured idle hours without a session or load", () => {
        assert.strictEqual(run({}, ["--reset"]).status, 0);
        ageStamp(5);
        const result = run({});
        assert.strictEqual(result.status, 0, result.stderr);
        assert.ok(poweredOff());
        assert.match(result.stderr, /limit 4h\): powering off/);
    });

    it("stays up before the limit", () => {
        run({}, ["--reset"]);
        ageStamp(3.5);
        run({});
        assert.ok(!poweredOff());
    });

    for (const [what, state] of [
        ["an SSH login (EC2 Instance Connect)", { who: "ubuntu   pts/0        2026-11-23 10:15 (10.66.0.9)\n" }],
        ["a Session Manager session", { ssm: true }],
        ["a long analysis still running (load average)", { load: "3.90 3.20 2.40" }],
    ] as const) {
        it(`counts ${what} as use and restarts the idle clock`, () => {
            run({}, ["--reset"]);
            ageStamp(6);
            run(state);
            assert.ok(!poweredOff());
            assert.ok(Date.now() - fs.statSync(stamp()).mtimeMs < 60_000, "the idle clock was not restarted");
        });
    }

    it("starts the idle clock at boot (--reset), so a restarted workstation is not stopped at once", () => {
        run({}, ["--reset"]);
        ageStamp(48);
        run({}, ["--reset"]);
        run({});
        assert.ok(!poweredOff());
    });
});
