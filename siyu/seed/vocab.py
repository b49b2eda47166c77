"""The words the demo generator draws from: real Chinese cities, common names, plausible pages, products and chats."""

from __future__ import annotations

# (region code, region name, [(store code, city, district, province), ...])
REGIONS: list[tuple[str, str, list[tuple[str, str, str, str]]]] = [
    (
        "east",
        "华东",
        [
            ("sh-jingan", "上海", "静安区南京西路1266号", "上海"),
            ("sh-xuhui", "上海", "徐汇区漕溪北路88号", "上海"),
            ("hz-xihu", "杭州", "西湖区文三路478号", "浙江"),
            ("nj-xinjiekou", "南京", "秦淮区中山南路1号", "江苏"),
            ("sz-gusu", "苏州", "姑苏区观前街245号", "江苏"),
            ("nb-haishu", "宁波", "海曙区中山西路138号", "浙江"),
            ("hf-shushan", "合肥", "蜀山区长江西路189号", "安徽"),
            ("wx-liangxi", "无锡", "梁溪区中山路531号", "江苏"),
        ],
    ),
    (
        "north",
        "华北",
        [
            ("bj-chaoyang", "北京", "朝阳区建国路87号", "北京"),
            ("bj-haidian", "北京", "海淀区中关村大街15号", "北京"),
            ("tj-heping", "天津", "和平区南京路219号", "天津"),
            ("jn-lixia", "济南", "历下区泉城路188号", "山东"),
            ("qd-shinan", "青岛", "市南区香港中路10号", "山东"),
            ("sjz-changan", "石家庄", "长安区中山东路326号", "河北"),
        ],
    ),
    (
        "south",
        "华南",
        [
            ("gz-tianhe", "广州", "天河区天河路208号", "广东"),
            ("gz-yuexiu", "广州", "越秀区北京路68号", "广东"),
            ("sz-futian", "深圳", "福田区福华三路269号", "广东"),
            ("sz-nanshan", "深圳", "南山区深南大道9668号", "广东"),
            ("fs-chancheng", "佛山", "禅城区祖庙路33号", "广东"),
            ("xm-siming", "厦门", "思明区中山路100号", "福建"),
        ],
    ),
]

# The most common surnames, weighted roughly by how common they are.
SURNAMES: list[tuple[str, int]] = [
    ("王", 72), ("李", 70), ("张", 68), ("刘", 54), ("陈", 46), ("杨", 31), ("黄", 25), ("赵", 22), ("吴", 21),
    ("周", 20), ("徐", 15), ("孙", 15), ("马", 14), ("朱", 13), ("胡", 12), ("郭", 12), ("何", 11), ("林", 10),
    ("高", 10), ("罗", 10), ("郑", 9), ("梁", 9), ("谢", 8), ("宋", 7), ("唐", 7), ("许", 6), ("韩", 6),
    ("冯", 6), ("邓", 6), ("曹", 6), ("彭", 5), ("曾", 5), ("肖", 5), ("田", 5), ("董", 5), ("袁", 4),
    ("潘", 4), ("于", 4), ("蒋", 4), ("蔡", 4), ("余", 4), ("杜", 4), ("叶", 4), ("程", 3), ("苏", 3),
    ("魏", 3), ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3),
    ("钟", 2), ("谭", 2), ("陆", 2), ("汪", 2), ("范", 2), ("金", 2), ("石", 2), ("廖", 2), ("贾", 2),
    ("夏", 2), ("韦", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2), ("熊", 2), ("秦", 2), ("邱", 2),
    ("江", 2), ("尹", 2), ("薛", 2), ("闫", 2), ("段", 2), ("雷", 2), ("侯", 2), ("龙", 2), ("史", 2),
    ("欧阳", 1), ("上官", 1), ("司马", 1),
]

GIVEN_FEMALE = list("芳娜敏静丽艳娟霞秀玲桂英华兰萍红梅琳雪婷倩颖露瑶欣怡佳琪晨悦涵诗雨思彤可馨梦洁月")
GIVEN_MALE = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳晨博文轩睿哲豪然")

# Mini-program pages: (path, title).
PAGES: list[tuple[str, str]] = [
    ("/pages/index/index", "首页"),
    ("/pages/category/index", "分类"),
    ("/pages/cart/index", "购物车"),
    ("/pages/member/index", "会员中心"),
    ("/pages/member/points", "我的积分"),
    ("/pages/coupon/list", "领券中心"),
    ("/pages/order/list", "我的订单"),
    ("/pages/activity/double11", "双11主会场"),
    ("/pages/activity/618", "618年中大促"),
    ("/pages/activity/newcomer", "新人专享"),
    ("/pages/live/room", "直播间"),
    ("/pages/store/nearby", "附近门店"),
    ("/pages/checkin/index", "每日签到"),
    ("/pages/invite/index", "邀请有礼"),
    ("/pages/search/index", "搜索"),
    ("/pages/article/skin-care", "秋冬护肤指南"),
    ("/pages/article/gift", "送礼清单"),
    ("/pages/groupbuy/index", "拼团"),
]

PRODUCT_COUNT = 300

MESSAGES_FROM_CUSTOMER: list[str] = [
    "你好，请问这款还有货吗？", "什么时候发货呀", "可以开发票吗", "有没有优惠券", "这个适合敏感肌吗",
    "门店几点关门", "会员积分怎么用", "我想退货", "尺码怎么选", "收到了，谢谢", "双11有活动吗", "能帮我查下订单吗",
    "好的", "谢谢小姐姐", "在吗", "赠品什么时候到", "可以寄到公司吗", "直播间的价格还有吗",
]
MESSAGES_FROM_STAFF: list[str] = [
    "亲，欢迎来到我们门店的专属福利群～",
    "您好，有任何问题随时找我哦",
    "本周会员日全场9折，欢迎到店",
    "您的订单已发货，请注意查收",
    "新品上市，给您留了试用装",
    "双11预售开始啦，定金翻倍",
    "生日快乐！送您一张专属优惠券",
    "618大促最后一天，别错过哦",
    "您的积分即将过期，记得兑换",
    "已为您登记，到店报手机号即可",
    "收到，马上帮您处理",
    "明天直播间有秒杀，记得来看",
]

# Channel-code states (渠道活码 state) other than the per-store QR codes, with their tag in 来源渠道.
CAMPAIGN_STATES: list[tuple[str, str]] = [
    ("poster_1111", "海报裂变"),
    ("package_card", "包裹卡"),
    ("live_room", "直播间"),
    ("sms_invite", "短信邀请"),
]

OA_SCENES: list[str] = [
    "qrscene_store", "qrscene_poster_1111", "qrscene_package_card", "qrscene_live_room", "menu_member", "article_share",
]

# Tag groups: (name, exclusive, tag kind, [tags]).
TAG_GROUPS: list[tuple[str, bool, str, list[str]]] = [
    ("客户等级", True, "rule", ["普通会员", "银卡会员", "金卡会员", "黑金会员"]),
    ("兴趣偏好", False, "manual", ["护肤", "彩妆", "香水", "母婴", "运动", "家居", "零食", "数码"]),
    ("来源渠道", False, "event", ["门店扫码", "海报裂变", "包裹卡", "直播间", "短信邀请", "公众号", "小程序"]),
    ("生命周期", True, "rule", ["新客", "活跃", "沉默", "流失风险", "已流失"]),
]

# Campaign windows (month, first day, last day, campaign code) tagged on browsing events in them.
CAMPAIGN_WINDOWS: list[tuple[int, int, int, str]] = [
    (6, 1, 18, "618"),
    (11, 1, 11, "double11"),
    (12, 10, 12, "double12"),
]
