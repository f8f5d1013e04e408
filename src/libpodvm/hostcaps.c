#include "hostcaps.h"
#include "cleanup.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The module behind /dev/kvm: kvm_pvm (a software KVM for nested guests) runs only guests
 * built for it, so messages name it. */
static const char *kvm_module(void)
{
	static const char *const modules[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
	for (size_t i = 0; i < sizeof(modules) / sizeof(*modules); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/sys/module/%s", modules[i]);
		if (access(path, F_OK) == 0)
			return modules[i];
	}
	return "kvm";
}

static void probe_kvm(struct pv_host_caps *c)
{
	snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", kvm_module());
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm: %s", strerror(errno));
		return;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm (%s): API version %d, want %d", c->kvm_module, v,
			 KVM_API_VERSION);
		return;
	}
	c->kvm_device = true;
	snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm (%s, API %d)", c->kvm_module, v);
}

int pv_find_executable(const char *name, char *out, size_t len)
{
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *s = path; ; ) {
		const char *e = strchrnul(s, ':');
		snprintf(out, len, "%.*s/%s", (int)(e - s), s, name);
		if (e > s && access(out, X_OK) == 0)
			return 0;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	out[0] = '\0';
	return -ENOENT;
}

void pv_host_caps_probe_qemu_version(struct pv_host_caps *c)
{
	if (c->qemu_path[0] == '\0')
		return;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", c->qemu_path);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return;
	if (fgets(c->qemu_version, sizeof(c->qemu_version), f))
		c->qemu_version[strcspn(c->qemu_version, "\n")] = '\0';
	pclose(f);
}

void pv_host_caps_probe(const char *qemu, struct pv_host_caps *c)
{
	memset(c, 0, sizeof(*c));
	probe_kvm(c);
	c->vhost_vsock = access("/dev/vhost-vsock", R_OK | W_OK) == 0;
	if (pv_find_executable(qemu, c->qemu_path, sizeof(c->qemu_path)) < 0)
		c->qemu_path[0] = '\0';
}

/* Confidential VMs (Intel TDX, AMD SEV-SNP): what the CPU, the kernel, the VMM and the
 * firmware each offer. docs/confidential.md says what podvm would do with them. */

/* Whether the words of line (up to its newline) include word. */
static bool line_has_word(const char *line, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = line; *p && *p != '\n'; ) {
		p += strspn(p, " \t");
		size_t w = strcspn(p, " \t\n");
		if (w == n && memcmp(p, word, n) == 0)
			return true;
		p += w;
	}
	return false;
}

bool pv_cpuinfo_has_flag(const char *cpuinfo, const char *flag)
{
	for (const char *line = cpuinfo; *line; ) {
		const char *end = strchrnul(line, '\n'), *colon = strchr(line, ':');
		bool flags = pv_str_has_prefix(line, "flags") && strchr(" \t:", line[5]);
		if (flags && colon && colon < end)
			return line_has_word(colon + 1, flag);  /* every CPU's line is the same */
		line = *end ? end + 1 : end;
	}
	return false;
}

int pv_param_state_parse(const char *value)
{
	if (value[0] == '\0' || (value[1] != '\0' && strcmp(value + 1, "\n") != 0))
		return -EINVAL;
	if (strchr("Yy1", value[0]))
		return PV_PARAM_ON;
	if (strchr("Nn0", value[0]))
		return PV_PARAM_OFF;
	return -EINVAL;
}

bool pv_qemu_help_lists(const char *help, const char *type)
{
	size_t n = strlen(type);
	for (const char *line = help; *line; ) {
		const char *end = strchrnul(line, '\n'), *p = line + strspn(line, " \t");
		const char *q = end;
		while (q > p && isspace((unsigned char)q[-1]))
			q--;
		if ((size_t)(q - p) == n && memcmp(p, type, n) == 0)
			return true;
		line = *end ? end + 1 : end;
	}
	return false;
}

int pv_qemu_version_short(const char *version, char *out, size_t len)
{
	const char *v = strstr(version, "version ");
	unsigned major, minor;
	int used = 0;
	if (v == NULL || sscanf(v + 8, "%u.%u%n", &major, &minor, &used) != 2 || used == 0)
		return -EINVAL;
	snprintf(out, len, "%u.%u", major, minor);
	return 0;
}

/* OVMF's GUIDed table: its footer GUID sits 48 bytes before the end of the image, after
 * the table's length; entries run backwards from there, each ending in a length and a GUID
 * (QEMU's pc_system_parse_ovmf_flash and pc_system_ovmf_table_find). GUIDs in the byte
 * order they have in the image. */
static const uint8_t ovmf_footer[16] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
					 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d };
static const uint8_t tdx_metadata[16] = { 0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
					  0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2 };
static const uint8_t sev_metadata[16] = { 0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
					  0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc };
static const uint8_t sev_hash_table[16] = { 0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
					    0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54 };
/* QEMU refuses kernel-hashes=on when the area is smaller than its padded table. */
#define SEV_HASH_TABLE_MIN 176

static unsigned get_le16(const uint8_t *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int ovmf_entry_feature(const uint8_t *guid, const uint8_t *data, size_t len)
{
	if (memcmp(guid, tdx_metadata, 16) == 0)
		return PV_FW_TDX_METADATA;
	if (memcmp(guid, sev_metadata, 16) == 0)
		return PV_FW_SNP_METADATA;
	if (memcmp(guid, sev_hash_table, 16) == 0 && len >= 8 && get_le32(data) != 0 &&
	    get_le32(data + 4) >= SEV_HASH_TABLE_MIN)
		return PV_FW_KERNEL_HASHES;
	return 0;
}

int pv_ovmf_features(const uint8_t *tail, size_t len)
{
	if (len < 48 + 2 || memcmp(tail + len - 48, ovmf_footer, 16) != 0)
		return 0;
	const uint8_t *end = tail + len - 48;  /* the table's entries end at its length field */
	size_t total = get_le16(end - 2);
	if (total < 18 || total - 18 > (size_t)(end - 2 - tail))
		return 0;
	const uint8_t *start = end - 2 - (total - 18);
	int features = 0;
	for (const uint8_t *p = end - 2; p - start >= 18; ) {
		size_t n = get_le16(p - 18);
		if (n < 18 || n > (size_t)(p - start))
			break;
		features |= ovmf_entry_feature(p - 16, p - n, n - 18);
		p -= n;
	}
	return features;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads fd to its end (at most 256 KiB) for at most timeout_ms. */
static int read_for(int fd, int timeout_ms, char **out)
{
	size_t cap = 256 << 10, len = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (buf && len < cap) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = timeout_ms - elapsed_ms(&t0);
		int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		ssize_t n = r > 0 ? read(fd, buf + len, cap - len) : r;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 && r > 0)
				break;  /* EOF */
			return n == 0 ? -ETIMEDOUT : -errno;
		}
		len += (size_t)n;
	}
	if (buf == NULL)
		return -ENOMEM;
	buf[len] = '\0';
	*out = steal_pointer(&buf);
	return 0;
}

/* Runs argv (stdin and stderr /dev/null) and returns what it wrote to stdout; kills it when
 * it has not finished within timeout_ms. -errno on failure. */
static int run_capture(char *const argv[], int timeout_ms, char **out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_t attr;  /* a process group of its own, so that its children go with it */
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (r == 0) {
		r = read_for(p[0], timeout_ms, out);
		kill(-pid, SIGKILL);  /* its group: pid is unreaped, so the id is still ours */
		waitpid(pid, NULL, 0);
	} else {
		r = -r;
	}
	close(p[0]);
	return r;
}

static int qemu_lists_object(const char *qemu, const char *type)
{
	char *argv[] = { (char *)qemu, (char *)"-object", (char *)"help", NULL };
	_cleanup_free_ char *help = NULL;
	if (qemu[0] == '\0')
		return -ENOENT;
	int r = run_capture(argv, 2000, &help);
	return r < 0 ? r : pv_qemu_help_lists(help, type);
}

static enum pv_param_state module_param(const char *module, const char *param)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/module/%s", module);
	if (access(path, F_OK) < 0)
		return PV_PARAM_UNLOADED;
	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, param);
	_cleanup_free_ char *v = NULL;
	if (pv_read_file(path, 64, &v, NULL, NULL) < 0)
		return PV_PARAM_ABSENT;
	int s = pv_param_state_parse(v);
	return s < 0 ? PV_PARAM_OFF : (enum pv_param_state)s;
}

/* The PV_FW_* bits of an image, from its last 64 KiB + 48 bytes; -errno if unreadable. */
static int firmware_features(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	size_t len = st.st_size < (65536 + 48) ? (size_t)st.st_size : 65536 + 48;
	_cleanup_free_ uint8_t *tail = malloc(len ? len : 1);
	if (tail == NULL)
		return -ENOMEM;
	if (pread(fd, tail, len, st.st_size - (off_t)len) != (ssize_t)len)
		return -EIO;
	return pv_ovmf_features(tail, len);
}

/* Picks the first candidate with every bit cc needs, else the first that has the most. */
static void find_firmware(const char *const *candidates, struct pv_cc_caps *cc)
{
	int best = -1;
	for (const char *const *f = candidates; *f; f++) {
		int has = firmware_features(*f);
		if (has < 0)
			continue;
		has &= cc->firmware_needs;
		if (__builtin_popcount(has) > best) {
			best = __builtin_popcount(has);
			snprintf(cc->firmware, sizeof(cc->firmware), "%s", *f);
			cc->firmware_has = has;
		}
		if (has == cc->firmware_needs)
			return;
	}
}

/* TDX boots one image given with -bios (TDVF); Ubuntu's OVMF.inteltdx.fd, else a unified
 * OVMF built with TDX support (Debian's OVMF.fd carries the metadata). */
static const char *const tdx_firmware[] = {
	"/usr/share/ovmf/OVMF.inteltdx.fd", "/usr/share/edk2/ovmf/OVMF.inteltdx.fd",
	"/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd", NULL,
};
/* SNP direct boot is measured only with kernel-hashes=on, which needs OVMF's AmdSev build
 * (OVMF.amdsev.fd); Debian's generic images have an empty hashes area. */
static const char *const snp_firmware[] = {
	"/usr/share/ovmf/OVMF.amdsev.fd", "/usr/share/edk2/ovmf/OVMF.amdsev.fd",
	"/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd", NULL,
};

static void probe_cc(const struct pv_host_caps *c, const char *cpuinfo, const char *flag, const char *module,
		     const char *param, const char *object, const char *const *firmware, int needs,
		     struct pv_cc_caps *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->cpu = cpuinfo && pv_cpuinfo_has_flag(cpuinfo, flag);
	cc->kvm = module_param(module, param);
	cc->qemu_object = qemu_lists_object(c->qemu_path, object);
	cc->firmware_needs = needs;
	find_firmware(firmware, cc);
	cc->usable = cc->cpu && cc->kvm == PV_PARAM_ON && cc->qemu_object == 1 && cc->firmware_has == needs;
}

void pv_host_caps_probe_cc(struct pv_host_caps *c)
{
	_cleanup_free_ char *cpuinfo = NULL;
	(void)pv_read_file("/proc/cpuinfo", 16 << 20, &cpuinfo, NULL, NULL);
	probe_cc(c, cpuinfo, "tdx_host_platform", "kvm_intel", "tdx", "tdx-guest", tdx_firmware,
		 PV_FW_TDX_METADATA, &c->tdx);
	probe_cc(c, cpuinfo, "sev_snp", "kvm_amd", "sev_snp", "sev-snp-guest", snp_firmware,
		 PV_FW_SNP_METADATA | PV_FW_KERNEL_HASHES, &c->sev_snp);
}
