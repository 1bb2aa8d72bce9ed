import * as pulumi from "@pulumi/pulumi";

/**
 * Puts the common tags on every taggable resource the program declares.
 *
 * The AWS provider's `aws:defaultTags` (same values, Pulumi.<stack>.yaml) tags
 * what awsx creates inside its components; this transformation writes the
 * tags into each resource's own inputs as well, so they show in the preview
 * and the tests can prove them. A resource is taggable when its class has a
 * `tags` input: the generated classes always pass that key, set or not.
 */
export function tagTransformation(tags: Record<string, string>): pulumi.ResourceTransformation {
  return (args) => {
    const isAws = args.type.startsWith("aws:") || args.type.startsWith("awsx:");
    if (!isAws || !Object.prototype.hasOwnProperty.call(args.props, "tags")) return undefined;
    const merged = pulumi.output(args.props["tags"] as pulumi.Input<Record<string, string>> | undefined).apply((own) => ({ ...(own ?? {}), ...tags }));
    return { props: { ...args.props, tags: merged }, opts: args.opts };
  };
}

/** Registers the tag transformation for every resource created after this call. */
export function applyCommonTags(tags: Record<string, string>): void {
  pulumi.runtime.registerStackTransformation(tagTransformation(tags));
}
