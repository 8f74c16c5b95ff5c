/* sscard.h — the reader API counter software calls (LD/T 6001.5 style,
 * ../shared/card-spec.md §7), served by sscardd. Link with -lsscard
 * (`pkg-config --cflags --libs sscard`).
 *
 * The library holds no reader: every call asks sscardd over its socket
 * (SSCARD_SOCKET, default /run/sscard/sscardd.sock), so any number of
 * programs and threads may call at once. Every call is bounded by
 * SSCARD_TIMEOUT_MS (default 15000 ms); the PIN calls, where a person
 * types on the reader, by SSCARD_PIN_TIMEOUT_MS (default 100000 ms).
 *
 * Buffer contract: every pOutInfo must point to at least SSCARD_OUT_MAX
 * (1024) bytes. The library writes at most SSCARD_OUT_MAX bytes including
 * the terminating NUL, on success and on error alike; on error pOutInfo
 * holds a plain sentence saying what went wrong.
 *
 * Encoding: names are UTF-8; SSCARD_ENCODING=GBK in the environment gives
 * GBK, as the Windows libraries do.
 *
 * iType: 1 contact, 2 contactless, 3 either (contact first),
 *        4 either (contactless first).
 *
 * Return codes (0 success, negative failure):
 *   -1   not a social security card          -2   no card
 *   -11  reader or sscardd not reachable     -51  wrong PIN (pOutInfo: "N|…", N tries left)
 *   -52  PIN blocked                          -35/-36 new PIN refused by the rules
 *   -53  PIN key blocked  -54 unblock/reload count spent  -55 MAC refused (§10)
 *   -NNNN a status word NNNN of decimal digits from the card (e.g. -6982:
 *        the field needs a security module); a status word with letters,
 *        e.g. 6A83, gives -(0x6A83) and the text "-6A83" leads pOutInfo
 *   -1001 the card is on the loss list: refuse it; pOutInfo gives the reason,
 *         the date and the list's version and age
 *   -1002 the reader has no PIN pad (iVerifyPIN/iChangePIN: a PIN is never
 *         typed on the PC; every contactless reader gives this)
 *   -1003 the card or reader did not answer in time, or nobody typed the
 *         PIN on the pad in time
 *   -1006 the holder pressed Cancel on the PIN pad
 *   -1007 the PIN typed on the pad was refused before reaching the card:
 *         the new PIN and its confirmation differ, or not 6 digits
 *   -1004 a bad argument (iType, NULL buffer)
 *   -1005 the loss list is out of date and SSCARD_STALE_LIST=refuse is set
 */
#ifndef SSCARD_H
#define SSCARD_H

#ifdef __cplusplus
extern "C" {
#endif

#define SSCARD_OUT_MAX 1024

#define SSCARD_E_NOT_SSC (-1)
#define SSCARD_E_NO_CARD (-2)
#define SSCARD_E_READER (-11)
#define SSCARD_E_PIN_RULE_INITIAL (-35)
#define SSCARD_E_PIN_RULE_WEAK (-36)
#define SSCARD_E_PIN_WRONG (-51)
#define SSCARD_E_PIN_BLOCKED (-52)
#define SSCARD_E_LISTED (-1001)
#define SSCARD_E_NO_PIN_PAD (-1002)
#define SSCARD_E_TIMEOUT (-1003)
#define SSCARD_E_ARG (-1004)
#define SSCARD_E_STALE_LIST (-1005)
#define SSCARD_E_PIN_CANCELLED (-1006)
#define SSCARD_E_PIN_ENTRY (-1007)
#define SSCARD_E_PINKEY_BLOCKED (-53) /* the card's PIN key is blocked (6983): only a new card helps */
#define SSCARD_E_PINKEY_SPENT (-54)   /* the card's unblock/reload count is spent (6A81): a new card */
#define SSCARD_E_PINKEY_MAC (-55)     /* the card refused the MAC (6988): another key, or a wrong MAC */
#define SSCARD_E_SAM (-2201)       /* the security module (PSAM) is absent or mute */
#define SSCARD_E_AUTH (-2203)      /* external authentication refused (PSAM, HSM or card) */

/* Basic information, `|`-terminated:
 * 区划|社会保障号码|卡号|卡识别码|姓名|ATR历史字节|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|
 * 终端机编号 is [daemon] terminal_id; 终端设备号 the reader's serial number
 * (SCARD_ATTR_VENDOR_IFD_SERIAL_NO), or its name when it reports none. */
long iReadCardBas(int iType, char *pOutInfo);
/* For a hospital system that owns its encryptor (card-spec §9): step 1
 * reads the card's EF05 part and returns its line with 社会保障号码 and
 * 姓名 empty and the card's challenge (16 hex digits) as a 12th field
 * (empty when the card needs no authentication: the line is then whole).
 * Step 2, on the same thread, takes the encryptor's cryptogram for that
 * challenge (32 hex digits) and returns the full iReadCardBas line. A step
 * 2 without its step 1, or after the card was reset, swapped or used in
 * between, is -2203 and never reaches the card. */
long iReadCardBas_HSM_Step1(int iType, char *pOutInfo);
long iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo);

/* Items of the basic files named in pFileAddr ("EF05|", "EF06|" or
 * "EF05|EF06|"), `|`-terminated, in file order:
 *   EF05: 卡识别码|卡类别|规范版本|初始化机构编号|发卡日期|卡有效期|卡号|
 *   EF06: 社会保障号码|姓名|性别|民族|出生地|出生日期|
 * An item the card does not have is empty. iAuthType and pCardInfo are
 * accepted for compatibility (no PSAM/HSM authentication here). */
long iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo);

/* The holder types the PIN on the reader's PIN pad (PC/SC part 10
 * FEATURE_VERIFY_PIN_DIRECT); the reader sends VERIFY to the card itself,
 * so the PIN never reaches this computer. 0 (pOutInfo: the reader), -51
 * (pOutInfo "N|…": N tries left), -52, -1002 when the reader has no pad,
 * -1003, -1006, -1, -2, -11. Blocks while the holder types (30 s). */
long iVerifyPIN(int iType, char *pOutInfo);
/* The same for CHANGE PIN (FEATURE_MODIFY_PIN_DIRECT): the pad asks for the
 * current PIN, then the new one twice. The new-PIN rules (-35/-36) need
 * the PIN on the computer and are not checked here; the card's own rules
 * apply. Codes as iVerifyPIN, and -1007. */
long iChangePIN(int iType, char *pOutInfo);

/* Unblock or reload the PIN (card-spec §10), for a card whose PIN is
 * blocked (-52) or forgotten. The clerk checks the holder's ID first; every
 * call is logged by sscardd with the calling user. The MAC comes from this
 * terminal's PSAM, or from the central's HSM where there is no PSAM (the
 * central then wants a fresh verification of the holder: without one,
 * -2203; use the _HSM_ forms with your own encryptor instead).
 *
 * iUnblockPIN: the try counter back to the maximum, the PIN unchanged.
 * 0 (pOutInfo: the reader), -53 (PIN key blocked: a new card), -54 (the
 * card's count of unblocks and reloads is spent: a new card), -55 (the card
 * refused the MAC), -2201 (no PSAM), -2203, -1, -2, -11, -1003.
 *
 * iReloadPIN: a new PIN, the counter reset. The MAC covers the new PIN,
 * so this computer must see it: a PC/SC PIN pad never hands the PIN over,
 * and the holder types the new PIN twice on the counter software's own
 * entry, which passes it ON ENTRY in pOutInfo as "NEWPIN|NEWPIN|" (wiped
 * from pOutInfo at once). §4's rules: -1007 (the two differ, not 6 digits),
 * -35 (the initial PIN), -36 (all one digit, a straight run); -1002 when
 * pOutInfo brings no PIN. Otherwise as iUnblockPIN. */
long iUnblockPIN(int iType, char *pOutInfo);
long iReloadPIN(int iType, char *pOutInfo);
/* The same with the hospital's own encryptor making the MAC (it holds
 * MK_pin). Step 1 reads the card id, gets the card's challenge and builds
 * the command; pOutInfo: "卡识别码|R|command hex|" (32, 16 and 10 or 18
 * hex digits). The encryptor derives K_pin from 卡识别码 and MACs
 * R ‖ 00×8 ‖ command padded (card-spec §10); step 2, on the same thread,
 * brings that MAC (8 hex digits) in pMAC and the card takes the command.
 * A step 2 without its step 1, or after the card was reset, swapped or
 * used in between, is -2203 and never reaches the card; the card waits
 * 60 s for it. In step 1 of a reload the command hex CARRIES THE NEW PIN
 * (packed BCD): the HIS and its encryptor see it; keep it out of logs. The
 * new PIN comes as for iReloadPIN. Codes as iUnblockPIN and iReloadPIN. */
long iUnblockPIN_HSM_Step1(int iType, char *pOutInfo);
long iUnblockPIN_HSM_Step2(char *pMAC, char *pOutInfo);
long iReloadPIN_HSM_Step1(int iType, char *pOutInfo);
long iReloadPIN_HSM_Step2(char *pMAC, char *pOutInfo);

/* The loss list as this terminal holds it: "version|age_s|stale|message|"
 * (age_s empty when never signed; stale 1 or 0). 0, or -11. */
long iGetListStatus(char *pOutInfo);

#ifdef __cplusplus
}
#endif

#endif
