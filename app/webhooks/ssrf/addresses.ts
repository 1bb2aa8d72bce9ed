/**
 * Which addresses a webhook may reach. Node's own net.BlockList, no
 * hand-written CIDR math. Two lists:
 *  - METADATA: the cloud and ECS task metadata services, refused always (a
 *    receiver URL that reaches them would hand out the task's credentials);
 *  - PRIVATE: loopback, RFC 1918, CGNAT, link-local, unique-local,
 *    unspecified, multicast and reserved ranges, refused unless
 *    WEBHOOK_ALLOW_PRIVATE_TARGETS=true (local and test setups).
 * IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it maps.
 */
import { BlockList, isIP } from "net";

const METADATA = new BlockList();
// EC2 IMDS (IPv4 and IPv6), ECS task metadata v2/v3-4 and its IPv6 twin.
for (const a of ["169.254.169.254", "169.254.170.2", "169.254.170.23"]) METADATA.addAddress(a, "ipv4");
for (const a of ["fd00:ec2::254", "fd00:ec2::23"]) METADATA.addAddress(a, "ipv6");

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) PRIVATE.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96], ["2001:db8::", 32],
] as const) PRIVATE.addSubnet(net, bits, "ipv6");

export type AddressVerdict = "allowed" | "private" | "metadata";

function normalise(address: string): { address: string; family: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: "ipv4" };
  return { address, family: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

export function classifyAddress(raw: string, allowPrivate: boolean): AddressVerdict {
  const { address, family } = normalise(raw.replace(/^\[|\]$/g, ""));
  if (METADATA.check(address, family)) return "metadata";
  if (!allowPrivate && PRIVATE.check(address, family)) return "private";
  return "allowed";
}
