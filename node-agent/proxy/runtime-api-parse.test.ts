import { describe, expect, it } from "vitest";
import {
  cliErrorText,
  decodeAdminState,
  mergeServerStatus,
  parseServersState,
  parseStatCsv,
  planBatch,
  planSwitch,
  type ServerStatus,
  slotReadiness,
} from "./runtime-api-parse";

// Answers captured from HAProxy 2.6.12.
const SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
4 be_a.example.com 1 s1 127.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 18099 - 0 0 - - 0
4 be_a.example.com 2 s2 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 1 - 0 0 - - 0

`;
const STAT_HEADER =
  "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,-,";
const STAT = `${STAT_HEADER}
be_a.example.com,s1,0,0,3,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,0,,,1,4,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18099,,http,,
be_a.example.com,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,,,1,,,1,4,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:1,,http,,

`;

describe("runtime API parsers", () => {
  it("parses show servers state by its header", () => {
    expect(parseServersState(SERVERS_STATE)).toEqual([
      { backend: "be_a.example.com", name: "s1", addr: "127.0.0.1", port: 18099, opState: 2, adminState: 4 },
      { backend: "be_a.example.com", name: "s2", addr: "127.0.0.1", port: 1, opState: 0, adminState: 5 },
    ]);
    expect(() => parseServersState("No such backend.\n")).toThrow(/not a 'show servers state' answer/);
  });

  it("parses show stat CSV by column name", () => {
    const rows = parseStatCsv(STAT);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      pxname: "be_a.example.com",
      svname: "s1",
      scur: "3",
      status: "no check",
    });
    expect(rows[1]?.addr).toBe("127.0.0.1:1");
  });

  it("merges both into server status; CMAINT alone (configured disabled, now ready) is ready", () => {
    const s = mergeServerStatus(parseServersState(SERVERS_STATE), parseStatCsv(STAT));
    expect(s[0]).toMatchObject({ name: "s1", admin: "ready", op: "up", sessions: 3, port: 18099 });
    expect(s[1]).toMatchObject({ name: "s2", admin: "maint", op: "down", sessions: 0, status: "MAINT" });
    expect(decodeAdminState(0x08)).toBe("drain");
    expect(decodeAdminState(0x04 | 0x10)).toBe("drain");
    expect(decodeAdminState(0x20)).toBe("maint");
  });

  it("recognizes HAProxy's error answers and not its success answers", () => {
    expect(cliErrorText("No such server.\n")).toBe("No such server.");
    expect(cliErrorText("No such backend.\n")).toBe("No such backend.");
    expect(
      cliErrorText("Unknown command, but maybe one of the following ones is a better match:\n  add acl"),
    ).toBe("Unknown command");
    expect(cliErrorText("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n")).toMatch(
      /expects/,
    );
    expect(cliErrorText("Invalid addr '999.1.1.1' by 'stats socket command'\n")).toMatch(/^Invalid addr/);
    expect(cliErrorText("Permission denied\n")).toBe("Permission denied");
    expect(cliErrorText("")).toBeUndefined();
    expect(
      cliErrorText(
        "no need to change the addr, port changed from '1' to '18099' by 'stats socket command'\n",
      ),
    ).toBeUndefined();
    expect(cliErrorText(SERVERS_STATE)).toBeUndefined();
  });
});

describe("slotReadiness", () => {
  const s = (status: string, op: ServerStatus["op"] = "up"): ServerStatus => ({
    backend: "b",
    name: "s1",
    addr: "127.0.0.1",
    port: 1,
    admin: "ready",
    op,
    sessions: 0,
    status,
    check: "",
  });
  it("trusts a slot without checks at once, a checked one only at full health", () => {
    expect(slotReadiness(s("no check"))).toBe("up");
    expect(slotReadiness(s("UP"))).toBe("up");
    // Just out of maintenance: UP by default, but its new address is not checked yet.
    expect(slotReadiness(s("UP 1/3"))).toBe("pending");
    expect(slotReadiness(s("DOWN 1/2", "down"))).toBe("pending");
    expect(slotReadiness(s("DOWN", "down"))).toBe("down");
    expect(slotReadiness({ ...s("MAINT", "down"), admin: "maint" })).toBe("pending");
  });
});

function srv(name: string, admin: ServerStatus["admin"], port: number, sessions = 0): ServerStatus {
  return {
    backend: "b",
    name,
    addr: "127.0.0.1",
    port,
    admin,
    op: admin === "maint" ? "down" : "up",
    sessions,
    status: "",
    check: "",
  };
}

describe("planSwitch", () => {
  const target = { addr: "127.0.0.1", port: 9002 };

  it("takes the idle slot and drains the live one", () => {
    expect(planSwitch([srv("s1", "ready", 9001), srv("s2", "maint", 1)], target)).toEqual({
      kind: "switch",
      slot: "s2",
      reuse: false,
      drain: ["s1"],
    });
  });

  it("starts a first release on the first slot with nothing to drain", () => {
    expect(planSwitch([srv("s1", "maint", 1), srv("s2", "maint", 1)], target)).toMatchObject({
      slot: "s1",
      drain: [],
    });
  });

  it("does nothing when the target already serves alone", () => {
    expect(planSwitch([srv("s1", "maint", 9001), srv("s2", "ready", 9002)], target)).toEqual({
      kind: "noop",
      slot: "s2",
    });
  });

  it("finishes an interrupted switch: the target is ready beside the old one", () => {
    expect(planSwitch([srv("s1", "ready", 9001), srv("s2", "ready", 9002)], target)).toEqual({
      kind: "switch",
      slot: "s2",
      reuse: true,
      drain: ["s1"],
    });
    expect(planSwitch([srv("s1", "drain", 9001, 2), srv("s2", "ready", 9002)], target)).toMatchObject({
      slot: "s2",
      reuse: true,
      drain: ["s1"],
    });
  });

  it("reuses a drained slot with no sessions, and refuses when no slot is idle", () => {
    expect(planSwitch([srv("s1", "drain", 9000), srv("s2", "ready", 9001)], target)).toMatchObject({
      slot: "s1",
      drain: ["s2"],
    });
    expect(() => planSwitch([srv("s1", "ready", 9000), srv("s2", "ready", 9001)], target)).toThrow(
      /no idle server slot/,
    );
    expect(() => planSwitch([], target)).toThrow(/no server slots/);
  });
});

describe("planBatch", () => {
  const t = (port: number) => ({ addr: "127.0.0.1", port });
  const targets = [t(9101), t(9102), t(9103)];

  it("replaces three replicas one at a time, each new one serving before an old one drains", () => {
    const servers = [
      srv("s1", "ready", 9001),
      srv("s2", "ready", 9002),
      srv("s3", "ready", 9003),
      srv("s4", "maint", 1),
      srv("s5", "maint", 1),
      srv("s6", "maint", 1),
    ];
    expect(planBatch(servers, targets, 1)).toEqual({
      kind: "batch",
      add: [{ slot: "s4", target: t(9101) }],
      ready: [],
      drain: ["s1"],
    });
    // After the first step: s4 serves 9101, s1 is parked.
    const after = [
      srv("s1", "maint", 9001),
      srv("s2", "ready", 9002),
      srv("s3", "ready", 9003),
      srv("s4", "ready", 9101),
      srv("s5", "maint", 1),
      srv("s6", "maint", 1),
    ];
    expect(planBatch(after, targets, 1)).toMatchObject({
      add: [{ slot: "s1", target: t(9102) }],
      drain: ["s2"],
    });
    const end = [
      srv("s1", "ready", 9102),
      srv("s2", "ready", 9103),
      srv("s3", "maint", 9003),
      srv("s4", "ready", 9101),
      srv("s5", "maint", 1),
      srv("s6", "maint", 1),
    ];
    expect(planBatch(end, targets)).toEqual({ kind: "done" });
  });

  it("switches all at once without parallelism, and drains every old server with the last batch", () => {
    const servers = [
      srv("s1", "ready", 9001),
      srv("s2", "maint", 1),
      srv("s3", "maint", 1),
      srv("s4", "maint", 1),
    ];
    expect(planBatch(servers, targets)).toEqual({
      kind: "batch",
      add: [
        { slot: "s2", target: t(9101) },
        { slot: "s3", target: t(9102) },
        { slot: "s4", target: t(9103) },
      ],
      ready: [],
      drain: ["s1"],
    });
  });

  it("says how many slots it lacks", () => {
    expect(() => planBatch([srv("s1", "ready", 9001), srv("s2", "maint", 1)], targets)).toThrow(
      /3 server slots are needed and 1 are idle/,
    );
  });
});
