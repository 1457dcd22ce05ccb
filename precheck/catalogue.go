package precheck

// CatalogueEntry is what the on-call team needs to know about one check
// item: a human name, what failing it costs, and what to do about it.
type CatalogueEntry struct {
	Name   string
	Impact string
	Hint   string
}

// Catalogue holds every documented precheck item. Sources: the
// QueryPreCheckDatabase reference and Cloud Backup's precheck pages.
var Catalogue = map[string]CatalogueEntry{
	"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": {
		Name:   "OSS connectivity",
		Impact: "no backup and no restore",
		Hint:   "Allow outbound 80/443 from the host's VPC, security group and network ACL to oss-<region>-internal.aliyuncs.com; check that it resolves in DNS and that no proxy intercepts it.",
	},
	"SERVICE_CONNECTIVITY": {
		Name:   "Backup control network connectivity",
		Impact: "no backup operation at all on this instance",
		Hint:   "Check the backup client is running (Linux: `ps aux | grep hybrid`, port 8011; Windows: service \"Aliyun hybrid backup service\"; log hybridbackup.log), that Cloud Assistant runs (`systemctl restart agentwatch`), and that DescribeUniBackupDatabase shows AgentStatus=INSTALLED.",
	},
	"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": {
		Name:   "SQL Server recovery mode",
		Impact: "databases in SIMPLE recovery get full backups only, no log backups",
		Hint:   "Run `ALTER DATABASE [db] SET RECOVERY FULL;` for each flagged database, then take a full backup to start the log chain.",
	},
	"SQL_SERVER_DB_NOT_ONLINE": {
		Name:   "SQL Server database status",
		Impact: "flagged databases cannot be backed up or restored",
		Hint:   "Check `SELECT name, state_desc FROM sys.databases;`; bring OFFLINE databases online with `ALTER DATABASE [db] SET ONLINE;`. RESTORING, RECOVERY_PENDING or SUSPECT need a DBA.",
	},
	"ORACLE_INSTANCE_STATUS": {
		Name:   "Oracle instance status",
		Impact: "no backup or restore for any database in the instance",
		Hint:   "`SELECT status FROM v$instance;` must say OPEN; as SYSDBA run `STARTUP` (or `ALTER DATABASE OPEN;`).",
	},
	"ORACLE_DB_STATUS": {
		Name:   "Oracle database status",
		Impact: "flagged databases cannot be backed up or restored",
		Hint:   "`SELECT name, open_mode FROM v$database;` must say READ WRITE; open a PDB with `ALTER PLUGGABLE DATABASE <pdb> OPEN;`.",
	},
	"ARCHIVELOG": {
		Name:   "Oracle archive log mode",
		Impact: "no backups for any database in the instance",
		Hint:   "As SYSDBA, off-peak (needs a restart): `SHUTDOWN IMMEDIATE; STARTUP MOUNT; ALTER DATABASE ARCHIVELOG; ALTER DATABASE OPEN;` then check `ARCHIVE LOG LIST`.",
	},
	"MYSQL_VERSION": {
		Name:   "MySQL version supports full backup",
		Impact: "no full backup",
		Hint:   "Move to a MySQL version on Cloud Backup's compatibility list (MySQL on Windows is not supported; MySQL 8.0 has no incremental backup).",
	},
	"MYSQL_BINLOG": {
		Name:   "MySQL binlog",
		Impact: "no log backup",
		Hint:   "In my.cnf [mysqld] set `log_bin=mysql-bin`, a non-zero `server_id` and `binlog_format=ROW`, restart MySQL, then check `SHOW VARIABLES LIKE 'log_bin';` says ON.",
	},
}

const unknownItemHint = "This check is not in precheckwatch's catalogue: open the precheck in the Security Center console for details."
