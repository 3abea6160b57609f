/**
 * `edgefuse acl`: prints a Mosquitto acl_file that gives each user of an auth file what
 * its role may do in a deployment (broker/mosquitto-acl.ts), for teams that run their own
 * Mosquitto. Passwords stay Mosquitto's: make its password_file with mosquitto_passwd.
 */
import { loadAuthFile } from "../../broker/auth.js";
import { mosquittoAcl } from "../../broker/mosquitto-acl.js";
import { idSchema } from "../connection.js";
import { defineCommand } from "../command.js";
import { defineFlags } from "../flags.js";
import { homeAssistantFlags } from "../home-assistant-flags.js";

const flags = defineFlags({
  auth: {
    value: "FILE",
    description: "the users and their roles: an auth file as `edgefuse broker --auth` takes (passwords unused)",
    required: true,
  },
  deployment: {
    value: "ID",
    description: "the deployment the users work in",
    schema: idSchema,
    defaultText: "any deployment",
  },
  "ha-prefix": homeAssistantFlags["ha-prefix"],
});

export const aclCommand = defineCommand({
  name: "acl",
  flags,
  async run(o) {
    const { users } = await loadAuthFile(o.auth);
    process.stdout.write(mosquittoAcl({ users, deployment: o.deployment, haPrefix: o["ha-prefix"], from: o.auth }));
  },
});
