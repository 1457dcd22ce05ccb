package precheck

// CatalogueEntry is what the on-call team needs to know about one check
// item: a human name, what failing it costs, and what to do about it; the
// name and the fix also in Chinese, in Security Center's own terms.
type CatalogueEntry struct {
	Name   string
	Impact string
	Hint   string
	NameZh string
	HintZh string
}

// Catalogue holds every documented precheck item. Sources: the
// QueryPreCheckDatabase reference and Cloud Backup's precheck pages.
var Catalogue = map[string]CatalogueEntry{
	"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": {
		Name:   "OSS connectivity",
		Impact: "no backup and no restore",
		Hint:   "Allow outbound 80/443 from the host's VPC, security group and network ACL to oss-<region>-internal.aliyuncs.com; check that it resolves in DNS and that no proxy intercepts it.",
		NameZh: "OSS 内网连通性",
		HintZh: "放通主机所在 VPC、安全组和网络 ACL 到 oss-<region>-internal.aliyuncs.com 的 80/443 出方向访问；确认该域名可被 DNS 解析，且没有代理拦截。",
	},
	"SERVICE_CONNECTIVITY": {
		Name:   "Backup control network connectivity",
		Impact: "no backup operation at all on this instance",
		Hint:   "Check the backup client is running (Linux: `ps aux | grep hybrid`, port 8011; Windows: service \"Aliyun hybrid backup service\"; log hybridbackup.log), that Cloud Assistant runs (`systemctl restart agentwatch`), and that DescribeUniBackupDatabase shows AgentStatus=INSTALLED.",
		NameZh: "备份服务网络连通性",
		HintZh: "确认备份客户端在运行（Linux：`ps aux | grep hybrid`，端口 8011；Windows：服务“Aliyun hybrid backup service”；日志 hybridbackup.log），云助手在运行（`systemctl restart agentwatch`），且 DescribeUniBackupDatabase 显示 AgentStatus=INSTALLED。",
	},
	"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": {
		Name:   "SQL Server recovery mode",
		Impact: "databases in SIMPLE recovery get full backups only, no log backups",
		Hint:   "Run `ALTER DATABASE [db] SET RECOVERY FULL;` for each flagged database, then take a full backup to start the log chain.",
		NameZh: "SQL Server 恢复模式",
		HintZh: "对每个被标记的数据库执行 `ALTER DATABASE [db] SET RECOVERY FULL;`，然后做一次全量备份以开始日志链。",
	},
	"SQL_SERVER_DB_NOT_ONLINE": {
		Name:   "SQL Server database status",
		Impact: "flagged databases cannot be backed up or restored",
		Hint:   "Check `SELECT name, state_desc FROM sys.databases;`; bring OFFLINE databases online with `ALTER DATABASE [db] SET ONLINE;`. RESTORING, RECOVERY_PENDING or SUSPECT need a DBA.",
		NameZh: "SQL Server 数据库状态",
		HintZh: "执行 `SELECT name, state_desc FROM sys.databases;` 检查状态；OFFLINE 的数据库用 `ALTER DATABASE [db] SET ONLINE;` 恢复在线。RESTORING、RECOVERY_PENDING 或 SUSPECT 状态需要 DBA 处理。",
	},
	"ORACLE_INSTANCE_STATUS": {
		Name:   "Oracle instance status",
		Impact: "no backup or restore for any database in the instance",
		Hint:   "`SELECT status FROM v$instance;` must say OPEN; as SYSDBA run `STARTUP` (or `ALTER DATABASE OPEN;`).",
		NameZh: "Oracle 实例状态",
		HintZh: "`SELECT status FROM v$instance;` 应为 OPEN；以 SYSDBA 身份执行 `STARTUP`（或 `ALTER DATABASE OPEN;`）。",
	},
	"ORACLE_DB_STATUS": {
		Name:   "Oracle database status",
		Impact: "flagged databases cannot be backed up or restored",
		Hint:   "`SELECT name, open_mode FROM v$database;` must say READ WRITE; open a PDB with `ALTER PLUGGABLE DATABASE <pdb> OPEN;`.",
		NameZh: "Oracle 数据库状态",
		HintZh: "`SELECT name, open_mode FROM v$database;` 应为 READ WRITE；用 `ALTER PLUGGABLE DATABASE <pdb> OPEN;` 打开 PDB。",
	},
	"ARCHIVELOG": {
		Name:   "Oracle archive log mode",
		Impact: "no backups for any database in the instance",
		Hint:   "As SYSDBA, off-peak (needs a restart): `SHUTDOWN IMMEDIATE; STARTUP MOUNT; ALTER DATABASE ARCHIVELOG; ALTER DATABASE OPEN;` then check `ARCHIVE LOG LIST`.",
		NameZh: "Oracle 归档模式",
		HintZh: "在业务低峰期以 SYSDBA 身份执行（需要重启数据库）：`SHUTDOWN IMMEDIATE; STARTUP MOUNT; ALTER DATABASE ARCHIVELOG; ALTER DATABASE OPEN;`，然后用 `ARCHIVE LOG LIST` 确认已开启归档模式。",
	},
	"MYSQL_VERSION": {
		Name:   "MySQL version supports full backup",
		Impact: "no full backup",
		Hint:   "Move to a MySQL version on Cloud Backup's compatibility list (MySQL on Windows is not supported; MySQL 8.0 has no incremental backup).",
		NameZh: "MySQL 版本支持全量备份",
		HintZh: "换用云备份兼容列表中的 MySQL 版本（不支持 Windows 上的 MySQL；MySQL 8.0 不支持增量备份）。",
	},
	"MYSQL_BINLOG": {
		Name:   "MySQL binlog",
		Impact: "no log backup",
		Hint:   "In my.cnf [mysqld] set `log_bin=mysql-bin`, a non-zero `server_id` and `binlog_format=ROW`, restart MySQL, then check `SHOW VARIABLES LIKE 'log_bin';` says ON.",
		NameZh: "MySQL binlog（二进制日志）",
		HintZh: "在 my.cnf 的 [mysqld] 中设置 `log_bin=mysql-bin`、非 0 的 `server_id` 和 `binlog_format=ROW`，重启 MySQL，再确认 `SHOW VARIABLES LIKE 'log_bin';` 为 ON。",
	},
}

const unknownItemHint = "This check is not in precheckwatch's catalogue: open the precheck in the Security Center console for details."
