/**
 * Builds each container's environment from the one config schema of the
 * platform (app/shared/config.ts). Secret settings become ECS `secrets`
 * (`valueFrom` a Secrets Manager ARN, resolved by the ECS agent at task start),
 * everything else plain `environment`. Both maps are total over their key
 * types, so adding or renaming a setting in app/shared breaks this compile.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  SECRET_SETTINGS,
  SERVICE_SETTINGS,
  configSchema,
  type SecretSettingName,
  type ServiceName,
  type SettingName,
} from "../../app/shared/config";

export type PlainSettingName = Exclude<SettingName, SecretSettingName>;

/** Value of every non-secret setting, as the container will see it. */
export type PlainSettingValues = Record<PlainSettingName, pulumi.Input<string>>;
/** ARN (or `arn:json-key::` reference) of the secret holding each secret setting. */
export type SecretSettingRefs = Record<SecretSettingName, pulumi.Input<string>>;

export interface ContainerSettings {
  environment: { name: PlainSettingName; value: pulumi.Input<string> }[];
  secrets: { name: SecretSettingName; valueFrom: pulumi.Input<string> }[];
}

export function isSecretSetting(name: SettingName): name is SecretSettingName {
  return (SECRET_SETTINGS as readonly SettingName[]).includes(name);
}

/** The settings `service` needs, split into ECS `environment` and `secrets`. */
export function containerSettings(service: ServiceName, plain: PlainSettingValues, secretRefs: SecretSettingRefs): ContainerSettings {
  const environment: ContainerSettings["environment"] = [];
  const secrets: ContainerSettings["secrets"] = [];
  for (const name of SERVICE_SETTINGS[service]) {
    if (isSecretSetting(name)) secrets.push({ name, valueFrom: secretRefs[name] });
    else environment.push({ name, value: plain[name] });
  }
  return { environment, secrets };
}

/** Secret settings one service reads: its execution role may read these secrets and no others. */
export function secretSettingsOf(service: ServiceName): SecretSettingName[] {
  return SERVICE_SETTINGS[service].filter(isSecretSetting);
}

/** Services that need `setting`; security groups open data stores to exactly these. */
export function servicesUsing(setting: SettingName): ServiceName[] {
  return (Object.keys(SERVICE_SETTINGS) as ServiceName[]).filter((s) => SERVICE_SETTINGS[s].includes(setting));
}

/**
 * The schema default of a setting, rendered as the environment string the
 * service would parse back to the same value. Undefined when the schema has
 * no default (the setting is optional and switches a component off).
 */
export function schemaDefault(name: SettingName): string | undefined {
  const parsed = configSchema.shape[name].safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  const v: unknown = parsed.data;
  return Array.isArray(v) ? v.join(",") : String(v);
}

/**
 * Checks a value a stack sets for a setting with the same schema the service
 * uses at start, so a bad value fails `pulumi preview`, not the deployment.
 * Returns the schema's message, or undefined when the value parses.
 */
export function settingValueProblem(name: SettingName, value: string): string | undefined {
  const parsed = configSchema.shape[name].safeParse(value);
  return parsed.success ? undefined : parsed.error.issues[0]?.message ?? "is invalid";
}

/** Plain settings whose value comes from the deployed resources, not from stack config. */
export type DerivedPlainSettings = Pick<
  PlainSettingValues,
  "KAFKA_BROKERS" | "KAFKA_SSL" | "PORT" | "CDC_S3_BUCKET" | "CDC_S3_PREFIX" | "CDC_S3_REGION" | "WAREHOUSE_IAM_ROLE_ARN"
>;

/**
 * Value of every plain setting: derived from resources, else the stack's
 * override (`atlas:appSettings`), else the schema default, so infra and the
 * services agree on defaults without repeating them.
 */
export function plainSettingValues(overrides: Partial<Record<PlainSettingName, string>>, derived: DerivedPlainSettings): PlainSettingValues {
  const values: Partial<PlainSettingValues> = {};
  for (const name of Object.keys(configSchema.shape) as SettingName[]) {
    // Settings no deployed service reads (e.g. local-only tooling) need no value.
    if (isSecretSetting(name) || servicesUsing(name).length === 0) continue;
    const value = (derived as Partial<PlainSettingValues>)[name] ?? overrides[name] ?? schemaDefault(name);
    if (value === undefined) throw new Error(`setting ${name} has no default in app/shared/config.ts; set atlas:appSettings.${name} in the stack config`);
    values[name] = value;
  }
  return values as PlainSettingValues;
}
