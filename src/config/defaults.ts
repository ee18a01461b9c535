/**
 * The built-in configuration Weir runs when no file is given: the admin API on
 * 127.0.0.1:8989, a readconnroute service listening on 127.0.0.1:4006 in front of the
 * MariaDB at 127.0.0.1:3306, and a mariadbmon monitor watching it. The service and
 * monitor user is `root` with an empty password (what a fresh local MariaDB has),
 * overridable with --default-user/--default-password or WEIR_DEFAULT_USER/WEIR_DEFAULT_PASSWORD.
 */
export const DEFAULT_CONFIG_NAME = '<built-in default>';

export function defaultConfigText(user = 'root', password = ''): string {
  return `# Weir's built-in default configuration.
[maxscale]
admin_host=127.0.0.1
admin_port=8989

[server1]
type=server
address=127.0.0.1
port=3306

[MariaDB-Monitor]
type=monitor
module=mariadbmon
servers=server1
user=${user}
password=${password}
monitor_interval=2000ms

[Read-Connection-Service]
type=service
router=readconnroute
router_options=running
servers=server1
user=${user}
password=${password}
root_user=true

[Read-Connection-Listener]
type=listener
service=Read-Connection-Service
address=127.0.0.1
port=4006
`;
}
