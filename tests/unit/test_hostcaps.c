/* What `podvm check` reads of the host for confidential VMs (src/libpodvm/hostcaps.c):
 * /proc/cpuinfo flags, a KVM module parameter's value, QEMU's `-object help` and
 * `--version`, and OVMF's GUIDed table. Every input is written here, none is the host's. */
#include "tap.h"
#include "hostcaps.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static const char cpuinfo[] =
	"processor\t: 0\n"
	"vendor_id\t: AuthenticAMD\n"
	"model name\t: AMD EPYC 9654 96-Core Processor\n"
	"flags\t\t: fpu vme sse2 svm sev sev_es sev_snp_x debug_swap\n"
	"bugs\t\t: sysret_ss_attrs sev_snp\n"
	"power management: ts ttp\n"
	"\n"
	"processor\t: 1\n"
	"flags\t\t: fpu vme sse2 svm sev sev_es sev_snp\n";

static void test_cpuinfo(void)
{
	static const struct {
		const char *text, *flag;
		bool has;
		const char *what;
	} cases[] = {
		{ cpuinfo, "svm", true, "a flag in the first flags line" },
		{ cpuinfo, "fpu", true, "the first word" },
		{ cpuinfo, "debug_swap", true, "the last word" },
		{ cpuinfo, "sev_snp", false, "a longer word, the bugs line, the second CPU's line do not count" },
		{ cpuinfo, "sev_", false, "a prefix is not a flag" },
		{ "flags : vmx tdx_host_platform", "tdx_host_platform", true, "no trailing newline" },
		{ "flagsx\t: tdx_host_platform\n", "tdx_host_platform", false, "only the line named flags" },
		{ "", "sev_snp", false, "empty text" },
		{ "flags\n", "sev_snp", false, "a flags line without a colon" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		ok(pv_cpuinfo_has_flag(cases[i].text, cases[i].flag) == cases[i].has, "cpuinfo: %s: %s",
		   cases[i].flag, cases[i].what);
}

static void test_param(void)
{
	ok(pv_param_state_parse("Y\n") == PV_PARAM_ON && pv_param_state_parse("y") == PV_PARAM_ON &&
		   pv_param_state_parse("1\n") == PV_PARAM_ON, "param: Y, y, 1 are on");
	ok(pv_param_state_parse("N\n") == PV_PARAM_OFF && pv_param_state_parse("n") == PV_PARAM_OFF &&
		   pv_param_state_parse("0\n") == PV_PARAM_OFF, "param: N, n, 0 are off");
	ok(pv_param_state_parse("") == -EINVAL && pv_param_state_parse("Yes\n") == -EINVAL &&
		   pv_param_state_parse("2") == -EINVAL && pv_param_state_parse("Y\n\n") == -EINVAL,
	   "param: empty, Yes, 2, two newlines are refused");
}

/* As QEMU 7.2 prints it, with a made-up newer type. */
static const char object_help[] =
	"Available object backends:\n"
	"  authz-list\n"
	"  memory-backend-memfd\n"
	"  sev-guest\n"
	"  sev-snp-guest-v2\n"
	"  tdx-guest  \n";

static void test_qemu_help(void)
{
	ok(pv_qemu_help_lists(object_help, "sev-guest"), "qemu help: sev-guest listed");
	ok(pv_qemu_help_lists(object_help, "tdx-guest"), "qemu help: trailing blanks ignored");
	ok(!pv_qemu_help_lists(object_help, "sev-snp-guest"), "qemu help: a longer name is not the type");
	ok(!pv_qemu_help_lists(object_help, "memory-backend") && !pv_qemu_help_lists("", "tdx-guest"),
	   "qemu help: a prefix, empty output");
	char v[16];
	ok(pv_qemu_version_short("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", v,
				 sizeof(v)) == 0 && strcmp(v, "7.2") == 0, "qemu version: 7.2 (%s)", v);
	ok(pv_qemu_version_short("QEMU emulator version 10.1.0", v, sizeof(v)) == 0 && strcmp(v, "10.1") == 0,
	   "qemu version: 10.1");
	ok(pv_qemu_version_short("fake-vmm 1", v, sizeof(v)) == -EINVAL && pv_qemu_version_short("", v, sizeof(v)) < 0,
	   "qemu version: none");
}

/* An image's last bytes with an OVMF table of the given entries, as edk2 lays it out: the
 * entries, the table's length, the footer GUID, then 32 bytes (the reset vector's). */
struct entry {
	const char *guid;  /* 16 bytes, in image byte order */
	uint8_t data[8];
	size_t len;
};

static const char footer[] = "\xde\x82\xb5\x96\xb2\x1f\xf7\x45\xba\xea\xa3\x66\xc5\x5a\x08\x2d";
static const char tdx[] = "\x35\x65\x7a\xe4\x4a\x98\x98\x47\x86\x5e\x46\x85\xa7\xbf\x8e\xc2";
static const char snp[] = "\x66\x65\x88\xdc\x4a\x98\x98\x47\xa7\x5e\x55\x85\xa7\xbf\x67\xcc";
static const char hashes[] = "\x1f\x37\x55\x72\x3b\x3a\x04\x4b\x92\x7b\x1d\xa6\xef\xa8\xd4\x54";
static const char other[] = "\x61\xb3\x2e\x4c\x9b\x7d\xc3\x4c\x80\x81\x12\x7c\x90\xd3\xd2\x94";

static size_t make_image(uint8_t *img, size_t cap, const struct entry *e, size_t n)
{
	size_t len = 64;  /* code before the table */
	memset(img, 0x90, cap);
	for (size_t i = 0; i < n; i++) {
		memcpy(img + len, e[i].data, e[i].len);
		len += e[i].len;
		size_t l = e[i].len + 18;
		img[len] = (uint8_t)l, img[len + 1] = (uint8_t)(l >> 8);
		memcpy(img + len + 2, e[i].guid, 16);
		len += 18;
	}
	size_t total = len - 64 + 18;
	img[len] = (uint8_t)total, img[len + 1] = (uint8_t)(total >> 8);
	memcpy(img + len + 2, footer, 16);
	return len + 18 + 32;
}

static void test_ovmf(void)
{
	uint8_t img[512];
	struct entry debian[] = {
		{ tdx, { 0x40, 0x08, 0, 0 }, 4 },
		{ snp, { 0x2c, 0x05, 0, 0 }, 4 },
		{ hashes, { 0 }, 8 },  /* Debian 2022.11: base 0, size 0 */
		{ other, { 0 }, 8 },
	};
	size_t len = make_image(img, sizeof(img), debian, 4);
	ok(pv_ovmf_features(img, len) == (PV_FW_TDX_METADATA | PV_FW_SNP_METADATA),
	   "ovmf: TDX and SNP metadata, an empty hashes area is no kernel-hashes table (%d)",
	   pv_ovmf_features(img, len));
	struct entry amdsev[] = {
		{ snp, { 0x2c, 0x05, 0, 0 }, 4 },
		{ hashes, { 0x00, 0x0c, 0x80, 0x00, 0x00, 0x04, 0, 0 }, 8 },  /* 0x800c00, 1 KiB */
	};
	len = make_image(img, sizeof(img), amdsev, 2);
	ok(pv_ovmf_features(img, len) == (PV_FW_SNP_METADATA | PV_FW_KERNEL_HASHES), "ovmf: an AmdSev build");
	ok(pv_ovmf_features(img + 64, len - 64) == (PV_FW_SNP_METADATA | PV_FW_KERNEL_HASHES),
	   "ovmf: the image's tail is enough");
	struct entry small[] = { { hashes, { 0x00, 0x0c, 0x80, 0x00, 0x10, 0, 0, 0 }, 8 } };
	len = make_image(img, sizeof(img), small, 1);
	ok(pv_ovmf_features(img, len) == 0, "ovmf: a hashes area too small for QEMU's table");
	len = make_image(img, sizeof(img), NULL, 0);
	ok(pv_ovmf_features(img, len) == 0, "ovmf: an empty table");
	len = make_image(img, sizeof(img), debian, 4);
	img[len - 48] ^= 1;
	ok(pv_ovmf_features(img, len) == 0, "ovmf: no footer GUID (SeaBIOS, qboot)");
	img[len - 48] ^= 1;
	img[len - 50] = 0xff, img[len - 49] = 0xff;
	ok(pv_ovmf_features(img, len) == 0, "ovmf: a table longer than the image");
	len = make_image(img, sizeof(img), debian, 4);
	img[len - 50 - 18] = 0xff;  /* the last entry's length */
	ok(pv_ovmf_features(img, len) == 0, "ovmf: an entry longer than the table");
	ok(pv_ovmf_features(img, 10) == 0, "ovmf: shorter than a footer");
}

int main(void)
{
	test_cpuinfo();
	test_param();
	test_qemu_help();
	test_ovmf();
	return done_testing();
}
