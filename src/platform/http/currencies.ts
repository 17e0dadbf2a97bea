/**
 * The ISO 4217 codes of the currencies in circulation (List One, 2025 edition: XCG in for ANG, ZWG
 * in for ZWL, SLE in for SLL), that a price, a coupon or a payment may be in. Left out: the fund
 * codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals (XAG, XAU, XPD, XPT), bond
 * market units (XBA to XBD), XDR, XSU, XUA, the testing code XTS and XXX (no currency). `XYZ` or
 * `ABC` is no money a buyer can pay with.
 */
const CIRCULATING = `AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`;

const CURRENCY_CODES: ReadonlySet<string> = new Set(CIRCULATING.split(/\s+/));

/** The ajv format name the money schemas use. */
export const CURRENCY_FORMAT = 'iso-4217';

export const isCurrencyCode = (value: string): boolean => CURRENCY_CODES.has(value);

/**
 * Digits after the decimal point of a currency's amounts (its ISO 4217 minor unit): what an integer
 * amount of minor units is divided by to be read. Two unless named here; not the digits a locale
 * shows (formatters show HUF and IQD without decimals, though their minor units are 2 and 3).
 */
const MINOR_UNIT_DIGITS: ReadonlyMap<string, number> = new Map([
  ...'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF'.split(' ').map((code) => [code, 0] as const),
  ...'BHD IQD JOD KWD LYD OMR TND'.split(' ').map((code) => [code, 3] as const),
]);

export const minorUnitDigits = (currency: string): number => MINOR_UNIT_DIGITS.get(currency) ?? 2;
