/**
 * The signing secrets at rest: sealed with WEBHOOK_SECRET_KEY (AES-256-GCM,
 * node's crypto; the endpoint id is the associated data, so a sealed secret
 * copied onto another endpoint's row does not open). A dump of the database
 * alone reveals no secret; the key lives in Secrets Manager (infra) or under
 * .atlas/ (npm start). Reversible on purpose: the worker must sign with the
 * secret itself, so a hash (as API keys are stored) cannot work.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "crypto";

const VERSION = "v1";

export class SecretBox {
  private readonly key: Buffer;

  constructor(keyBase64: string) {
    this.key = Buffer.from(keyBase64, "base64");
    if (this.key.length !== 32) throw new Error("WEBHOOK_SECRET_KEY must be base64 of exactly 32 bytes");
  }

  seal(plain: string, endpointId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv).setAAD(Buffer.from(endpointId));
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  open(sealed: string, endpointId: string): string {
    const [version, data] = sealed.split(":");
    if (version !== VERSION || !data) throw new Error("sealed webhook secret has an unknown format");
    const raw = Buffer.from(data, "base64");
    const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12)).setAAD(Buffer.from(endpointId));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  }
}
