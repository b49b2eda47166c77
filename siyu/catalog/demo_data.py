"""The demo enterprise's catalog as plain data: categories, 60 products with shelf prices, spec options and bundles.

`repurchase_days` is how often a customer buys from a leaf again (None: durable goods, bought once); the order
generator reads it so daily consumables repeat and pots and pans do not.
"""

from __future__ import annotations

from dataclasses import dataclass

SpecOptions = tuple[tuple[str, int], ...]  # (label, price factor in %)


@dataclass(frozen=True)
class ProductEntry:
    name: str
    role: str
    price: str  # shelf price in yuan, as text (never float)
    specs: tuple[tuple[str, SpecOptions], ...] = ()
    subtitle: str = ""
    selling_points: str = ""


@dataclass(frozen=True)
class LeafEntry:
    name: str
    repurchase_days: int | None
    products: tuple[ProductEntry, ...]


@dataclass(frozen=True)
class RootEntry:
    name: str
    children: tuple[LeafEntry, ...]


@dataclass(frozen=True)
class BundleEntry:
    name: str
    items: tuple[tuple[str, int], ...]  # (product name, quantity); the product's first SKU is used
    percent: int  # bundle price as % of the parts
    description: str = ""


def _p(name: str, role: str, price: str, *specs: tuple[str, SpecOptions], points: str = "") -> ProductEntry:
    return ProductEntry(name=name, role=role, price=price, specs=tuple(specs), selling_points=points)


SAME = 100
COLORS = ("颜色", (("白", SAME), ("黑", SAME)))

CATALOG: tuple[RootEntry, ...] = (
    RootEntry("日用消耗", (
        LeafEntry("纸品清洁", 30, (
            _p("抽纸 3层100抽", "traffic", "19.90", ("规格", (("6包", 100), ("12包", 190), ("24包", 360))),
               points="原生木浆，柔韧不掉屑"),
            _p("湿巾 80抽", "traffic", "12.90", ("规格", (("单包", 100), ("3包", 270)))),
            _p("厨房用纸 4卷", "profit", "15.90"),
            _p("浓缩洗衣液 2kg", "profit", "49.90", ("香型", (("薰衣草", SAME), ("清新柠檬", SAME))),
               points="低泡易漂，除菌率99%"),
            _p("洗衣凝珠 52颗", "profit", "59.90"),
            _p("洗洁精 1.5kg", "traffic", "9.90"),
            _p("卫生间清洁剂 500ml", "profit", "22.90"),
            _p("加厚垃圾袋 100只", "traffic", "8.90", ("尺寸", (("中号", 100), ("大号", 130)))),
        )),
        LeafEntry("口腔护理", 45, (
            _p("美白牙膏 120g", "traffic", "12.90", ("口味", (("薄荷", SAME), ("茶香", SAME)))),
            _p("软毛牙刷 4支装", "profit", "19.90", ("颜色", (("蓝", SAME), ("粉", SAME)))),
            _p("漱口水 500ml", "profit", "29.90"),
            _p("牙线棒 100支", "traffic", "9.90"),
            _p("替换刷头 4支", "profit", "89.00"),
        )),
        LeafEntry("个人护理电器", None, (
            _p("声波电动牙刷", "image", "299.00", COLORS, points="五档模式，续航60天"),
            _p("负离子吹风机", "image", "399.00"),
        )),
    )),
    RootEntry("个护美妆", (
        LeafEntry("洗发沐浴", 60, (
            _p("氨基酸洗发水 500ml", "profit", "69.00", ("功效", (("控油", SAME), ("滋润", SAME)))),
            _p("香氛沐浴露 750ml", "profit", "59.00", ("香型", (("白茶", SAME), ("玫瑰", SAME)))),
            _p("修护护发素 400ml", "profit", "49.00"),
            _p("旅行装洗护套装", "traffic", "19.90"),
            _p("烟酰胺身体乳 300ml", "profit", "79.00"),
            _p("护手霜 3支装", "traffic", "29.90"),
        )),
        LeafEntry("护肤", 60, (
            _p("玻尿酸精华 30ml", "image", "299.00", points="三重玻尿酸，28天水润"),
            _p("保湿面霜 50g", "profit", "199.00"),
            _p("补水面膜 10片", "traffic", "39.90"),
            _p("氨基酸洁面乳 120g", "profit", "69.00"),
            _p("防晒霜 SPF50 50ml", "profit", "119.00"),
            _p("保湿爽肤水 200ml", "profit", "129.00"),
        )),
        LeafEntry("彩妆", 90, (
            _p("丝绒口红", "image", "239.00", ("色号", (("01 正红", SAME), ("02 豆沙", SAME), ("03 枫叶", SAME)))),
            _p("轻薄气垫粉底", "image", "329.00", ("色号", (("象牙白", SAME), ("自然色", SAME)))),
            _p("防水眉笔", "traffic", "29.90", ("颜色", (("深棕", SAME), ("浅棕", SAME)))),
            _p("温和卸妆水 400ml", "profit", "89.00"),
        )),
    )),
    RootEntry("家居耐用", (
        LeafEntry("厨房", None, (
            _p("不粘炒锅 32cm", "profit", "259.00"),
            _p("保温杯 500ml", "profit", "129.00", ("颜色", (("白", SAME), ("黑", SAME), ("粉", SAME)))),
            _p("陶瓷餐具 16件套", "image", "399.00"),
            _p("德式刀具五件套", "profit", "299.00"),
            _p("硅胶保鲜盒 3件", "traffic", "39.90"),
            _p("电热水壶 1.7L", "profit", "169.00"),
        )),
        LeafEntry("床品", None, (
            _p("纯棉四件套", "profit", "399.00", ("尺寸", (("1.5m", 100), ("1.8m", 115))),
               ("颜色", (("米白", SAME), ("雾蓝", SAME)))),
            _p("记忆棉枕头", "profit", "199.00"),
            _p("桑蚕丝被", "image", "1299.00", ("尺寸", (("150x200", 100), ("200x230", 130)))),
            _p("珊瑚绒毯", "traffic", "69.00"),
            _p("天然乳胶枕", "image", "459.00"),
        )),
        LeafEntry("收纳", None, (
            _p("收纳箱 3个装", "traffic", "59.90"),
            _p("防滑衣架 20只", "traffic", "29.90"),
            _p("真空压缩袋 8件", "profit", "49.90"),
            _p("桌面收纳架", "profit", "79.00"),
        )),
    )),
    RootEntry("食品饮料", (
        LeafEntry("零食", 21, (
            _p("每日坚果 30袋", "profit", "129.00", points="6种坚果果干，每天一袋"),
            _p("全麦饼干 500g", "traffic", "19.90"),
            _p("风干牛肉干 200g", "profit", "59.90", ("口味", (("原味", SAME), ("麻辣", SAME)))),
            _p("72%黑巧克力", "profit", "39.90"),
            _p("海苔脆 6包", "traffic", "15.90"),
            _p("冻干水果 6袋", "profit", "45.00"),
        )),
        LeafEntry("饮品", 30, (
            _p("挂耳咖啡 20包", "profit", "69.00", ("烘焙", (("中烘", SAME), ("深烘", SAME)))),
            _p("明前龙井 250g", "image", "588.00"),
            _p("天然矿泉水 24瓶", "traffic", "39.90"),
            _p("燕麦奶 1L×6", "profit", "79.00"),
            _p("冻干咖啡粉 20颗", "profit", "99.00"),
        )),
        LeafEntry("粮油", 45, (
            _p("五常大米 5kg", "profit", "89.00"),
            _p("有机菜籽油 5L", "profit", "129.00"),
            _p("鸡蛋挂面 1kg", "traffic", "9.90"),
            _p("杂粮礼盒", "image", "168.00"),
        )),
    )),
)

BUNDLES: tuple[BundleEntry, ...] = (
    BundleEntry("洁净家居组合", (("抽纸 3层100抽", 2), ("洗洁精 1.5kg", 1), ("加厚垃圾袋 100只", 1)), 85,
                "一次备齐厨房和客厅的日用品"),
    BundleEntry("口腔护理套装", (("美白牙膏 120g", 2), ("软毛牙刷 4支装", 1), ("漱口水 500ml", 1)), 85),
    BundleEntry("洗护三件套", (("氨基酸洗发水 500ml", 1), ("香氛沐浴露 750ml", 1), ("修护护发素 400ml", 1)), 80),
    BundleEntry("元气早餐组合", (("挂耳咖啡 20包", 1), ("燕麦奶 1L×6", 1), ("全麦饼干 500g", 1)), 85),
)
