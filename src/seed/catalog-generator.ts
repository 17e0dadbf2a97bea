import type { ImportCategory, ImportProduct } from '../domains/products/index.ts';
import { newId } from '../platform/ids.ts';

/**
 * A realistic, reproducible demo catalog: a three-level category tree, products with 1–4 variants,
 * 1–4 images, searchable and plain attributes, a current price window (some with a discount window
 * scheduled in the coming days), and a stock quantity per variant. Pure apart from ids.
 */

/** Small, fast, seedable PRNG (mulberry32): the same seed gives the same catalog shape. */
export function randomSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const between = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));

interface Department {
  name: string;
  children: Record<string, string[]>;
  nouns: string[];
  adjectives: string[];
  /** Variant axes: attribute name → values. */
  axes: Record<string, string[]>;
  brands: string[];
  materials: string[];
  /** List price range in cents. */
  price: [number, number];
}

const DEPARTMENTS: Department[] = [
  {
    name: 'Electronics',
    children: {
      Phones: ['Smartphones', 'Phone Cases', 'Chargers', 'Screen Protectors'],
      Computers: ['Laptops', 'Monitors', 'Keyboards', 'Mice'],
      Audio: ['Headphones', 'Speakers', 'Microphones', 'Turntables'],
      Cameras: ['Action Cameras', 'Lenses', 'Tripods', 'Drones'],
    },
    nouns: ['Headphones', 'Speaker', 'Charger', 'Laptop Stand', 'Keyboard', 'Mouse', 'Monitor', 'Webcam', 'Power Bank', 'Earbuds', 'Drone', 'Tripod'],
    adjectives: ['Wireless', 'Noise-Cancelling', 'Portable', 'Ultra-Slim', 'Ergonomic', 'Fast-Charging', '4K', 'Bluetooth', 'Compact', 'Pro'],
    axes: { colour: ['Black', 'White', 'Silver', 'Blue', 'Red'], storage: ['64GB', '128GB', '256GB', '512GB'] },
    brands: ['Voltra', 'Nexon', 'Auralis', 'Kitebyte', 'Lumio', 'Ferrocell'],
    materials: ['Aluminium', 'Plastic', 'Glass', 'Carbon fibre'],
    price: [999, 149_999],
  },
  {
    name: 'Fashion',
    children: {
      Women: ['Dresses', 'Tops', 'Jeans', 'Coats'],
      Men: ['Shirts', 'Trousers', 'Jackets', 'Suits'],
      Shoes: ['Sneakers', 'Boots', 'Sandals', 'Loafers'],
      Accessories: ['Bags', 'Belts', 'Hats', 'Scarves'],
    },
    nouns: ['T-Shirt', 'Hoodie', 'Dress', 'Jacket', 'Sneakers', 'Boots', 'Scarf', 'Backpack', 'Jeans', 'Cardigan', 'Belt', 'Cap'],
    adjectives: ['Classic', 'Slim-Fit', 'Oversized', 'Organic Cotton', 'Waterproof', 'Vintage', 'Lightweight', 'Knitted', 'Relaxed', 'Tailored'],
    axes: { size: ['XS', 'S', 'M', 'L', 'XL'], colour: ['Black', 'Navy', 'Olive', 'Beige', 'Burgundy', 'Grey'] },
    brands: ['Northwind', 'Maison Lumen', 'Threadline', 'Urbanist', 'Fieldcraft'],
    materials: ['Cotton', 'Wool', 'Linen', 'Leather', 'Polyester', 'Denim'],
    price: [799, 39_999],
  },
  {
    name: 'Home & Kitchen',
    children: {
      Kitchen: ['Cookware', 'Knives', 'Small Appliances', 'Storage'],
      Furniture: ['Chairs', 'Tables', 'Shelves', 'Beds'],
      Decor: ['Lamps', 'Rugs', 'Cushions', 'Wall Art'],
      Bath: ['Towels', 'Shower Curtains', 'Bath Mats', 'Organisers'],
    },
    nouns: ['Frying Pan', 'Chef Knife', 'Kettle', 'Blender', 'Table Lamp', 'Rug', 'Cushion Cover', 'Towel Set', 'Bookshelf', 'Dining Chair', 'Storage Jar'],
    adjectives: ['Non-Stick', 'Stainless Steel', 'Handmade', 'Minimalist', 'Ceramic', 'Scandinavian', 'Stackable', 'Cast Iron', 'Bamboo'],
    axes: { colour: ['Natural', 'White', 'Charcoal', 'Sage', 'Terracotta'], size: ['Small', 'Medium', 'Large'] },
    brands: ['Hearthly', 'Casa Verde', 'Ironleaf', 'Nordhaus', 'Potterline'],
    materials: ['Stainless steel', 'Ceramic', 'Oak', 'Bamboo', 'Cotton', 'Cast iron'],
    price: [499, 89_999],
  },
  {
    name: 'Sports & Outdoors',
    children: {
      Fitness: ['Yoga', 'Weights', 'Cardio', 'Recovery'],
      Camping: ['Tents', 'Sleeping Bags', 'Stoves', 'Lanterns'],
      Cycling: ['Bikes', 'Helmets', 'Lights', 'Repair'],
      Running: ['Running Shoes', 'Running Apparel', 'Hydration', 'Watches'],
    },
    nouns: ['Yoga Mat', 'Dumbbell Set', 'Tent', 'Sleeping Bag', 'Bike Helmet', 'Water Bottle', 'Running Shoes', 'Headlamp', 'Foam Roller', 'Camping Stove'],
    adjectives: ['Ultralight', 'All-Weather', 'Adjustable', 'Insulated', 'Reflective', 'Breathable', 'Foldable', 'Trail'],
    axes: { size: ['S', 'M', 'L'], colour: ['Black', 'Orange', 'Green', 'Blue'] },
    brands: ['Summitry', 'Trailforge', 'Pacewell', 'Boreal', 'Kinetix'],
    materials: ['Nylon', 'Aluminium', 'Rubber', 'Steel', 'Polyester'],
    price: [699, 199_999],
  },
  {
    name: 'Books',
    children: {
      Fiction: ['Crime', 'Science Fiction', 'Romance', 'Literary'],
      'Non-Fiction': ['History', 'Science', 'Biography', 'Business'],
      Children: ['Picture Books', 'Early Readers', 'Young Adult', 'Activity Books'],
      Learning: ['Languages', 'Programming', 'Mathematics', 'Cooking'],
    },
    nouns: ['Novel', 'Handbook', 'Guide', 'Atlas', 'Cookbook', 'Workbook', 'Anthology', 'Biography', 'Primer'],
    adjectives: ['Illustrated', 'Collected', 'Essential', 'Complete', 'Pocket', 'Annotated', 'Revised'],
    axes: { format: ['Paperback', 'Hardcover', 'E-book'] },
    brands: ['Quillhouse', 'Bluepage Press', 'Marrow & Finch', 'Oxbow Books'],
    materials: ['Paper'],
    price: [499, 5999],
  },
  {
    name: 'Toys & Games',
    children: {
      'Building Sets': ['Bricks', 'Magnetic Tiles', 'Construction', 'Marble Runs'],
      'Board Games': ['Strategy', 'Family', 'Party', 'Puzzles'],
      Outdoor: ['Water Play', 'Ride-Ons', 'Sports Toys', 'Garden Games'],
      Baby: ['Rattles', 'Soft Toys', 'Stacking', 'Bath Toys'],
    },
    nouns: ['Building Set', 'Board Game', 'Puzzle', 'Plush Bear', 'Kite', 'Train Set', 'Marble Run', 'Card Game', 'Doll House'],
    adjectives: ['Wooden', 'Educational', 'Classic', 'Deluxe', 'Travel', 'Glow-in-the-Dark', 'Giant'],
    axes: { edition: ['Standard', 'Deluxe', 'Collector'], colour: ['Red', 'Yellow', 'Blue', 'Multicolour'] },
    brands: ['Playcraft', 'Tumbleweed', 'Brightbox', 'Pebble & Pine'],
    materials: ['Wood', 'Plastic', 'Cardboard', 'Plush'],
    price: [599, 24_999],
  },
];

export interface GeneratedCategories {
  categories: ImportCategory[];
  /** The leaves, with the department of each, where products are filed. */
  leaves: { id: string; department: number }[];
}

const slugOf = (name: string) =>
  name
    .toLowerCase()
    .replace(/&/g, 'and')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Six departments × four categories × four subcategories: 126 categories, 96 leaves. */
export function generateCategories(): GeneratedCategories {
  const categories: ImportCategory[] = [];
  const leaves: { id: string; department: number }[] = [];
  DEPARTMENTS.forEach((dept, d) => {
    const rootId = newId();
    const rootSlug = slugOf(dept.name);
    categories.push({ id: rootId, parentId: null, name: dept.name, slug: rootSlug, position: d });
    Object.entries(dept.children).forEach(([childName, grandchildren], c) => {
      const childId = newId();
      const childSlug = `${rootSlug}-${slugOf(childName)}`;
      categories.push({ id: childId, parentId: rootId, name: childName, slug: childSlug, position: c });
      grandchildren.forEach((leafName, g) => {
        const leafId = newId();
        categories.push({ id: leafId, parentId: childId, name: leafName, slug: `${childSlug}-${slugOf(leafName)}`, position: g });
        leaves.push({ id: leafId, department: d });
      });
    });
  });
  return { categories, leaves };
}

/** Reads the department of an existing leaf from its root's name (for a second seed on the same catalog). */
export function departmentOfRootName(name: string): number {
  const index = DEPARTMENTS.findIndex((d) => d.name === name);
  return Math.max(0, index);
}

export interface GeneratedProduct {
  product: ImportProduct;
  /** Units in stock per variant id. */
  stock: Map<string, number>;
}

export interface ProductContext {
  random: Random;
  now: Date;
  sellerId: string;
  leaf: { id: string; department: number };
  /** Unique within the run, so SKUs never collide. */
  serial: number;
  runTag: string;
}

const DAY_MS = 86_400_000;

export function generateProduct(ctx: ProductContext): GeneratedProduct {
  const { random, now } = ctx;
  const dept = DEPARTMENTS[ctx.leaf.department] ?? (DEPARTMENTS[0] as Department);
  const productId = newId();
  const brand = pick(random, dept.brands);
  const noun = pick(random, dept.nouns);
  const title = `${brand} ${pick(random, dept.adjectives)} ${noun}`;
  const createdAt = new Date(now.getTime() - Math.floor(random() * 365 * DAY_MS));
  const sku = `${ctx.runTag}-${ctx.serial.toString(36).toUpperCase()}`;
  const axisNames = Object.keys(dept.axes);
  const variantCount = between(random, 1, 4);
  const listPrice = Math.round(between(random, dept.price[0], dept.price[1]) / 100) * 100 - 1;
  const usedCombos = new Set<string>();
  const variants: ImportProduct['variants'] = [];
  for (let i = 0; i < variantCount; i++) {
    const attributes: Record<string, string> = {};
    for (const axis of axisNames) attributes[axis] = pick(random, dept.axes[axis] ?? ['Standard']);
    const combo = JSON.stringify(attributes);
    if (usedCombos.has(combo)) continue;
    usedCombos.add(combo);
    const step = i === 0 ? 0 : Math.round(listPrice * 0.1 * i);
    variants.push({ id: newId(), sku: `${sku}-${i + 1}`, attributes, listPrice: { amount: listPrice + step, currency: 'USD' } });
  }
  const images: ImportProduct['images'] = Array.from({ length: between(random, 1, 4) }, (_, i) => ({
    url: `https://img.bazaar.test/products/${productId}/${i + 1}.jpg`,
    type: i === 0 ? ('primary' as const) : ('gallery' as const),
  }));
  const attributes: ImportProduct['attributes'] = [
    { name: 'brand', value: brand, searchable: true },
    { name: 'material', value: pick(random, dept.materials), searchable: true },
    { name: 'warranty', value: pick(random, ['1 year', '2 years', '3 years']), searchable: false },
  ];
  if (random() < 0.5) attributes.push({ name: 'origin', value: pick(random, ['Portugal', 'Vietnam', 'Germany', 'Mexico', 'Japan', 'Kenya']), searchable: false });
  const prices: ImportProduct['prices'] = [];
  const discounted = random() < 0.15;
  for (const v of variants) {
    const base = v.listPrice.amount;
    if (!discounted) {
      prices.push({ id: newId(), variantId: v.id, currency: 'USD', basePrice: base, discount: 0, effectiveFrom: createdAt, effectiveTo: null });
      continue;
    }
    // A sale scheduled in the coming days: regular price until it starts, the sale, then regular
    // again, as a seller makes it through the API: the sale's start closes the regular price (so
    // withdrawing the sale lets the regular price run on), and the sale ends as written.
    const saleStart = new Date(now.getTime() + between(random, 1, 14) * DAY_MS);
    const saleEnd = new Date(saleStart.getTime() + between(random, 2, 7) * DAY_MS);
    const discount = Math.round(base * pick(random, [0.1, 0.15, 0.2, 0.3]));
    const saleId = newId();
    prices.push({ id: newId(), variantId: v.id, currency: 'USD', basePrice: base, discount: 0, effectiveFrom: createdAt, effectiveTo: saleStart, closedByPriceId: saleId });
    prices.push({ id: saleId, variantId: v.id, currency: 'USD', basePrice: base, discount, effectiveFrom: saleStart, effectiveTo: saleEnd });
    prices.push({ id: newId(), variantId: v.id, currency: 'USD', basePrice: base, discount: 0, effectiveFrom: saleEnd, effectiveTo: null });
  }
  const stock = new Map(variants.map((v) => [v.id, random() < 0.08 ? 0 : between(random, 1, 500)]));
  return {
    product: {
      id: productId,
      sellerId: ctx.sellerId,
      sku,
      title,
      description: `${title}. ${pick(random, dept.adjectives)} and built to last, from ${brand}. Made of ${attributes[1]?.value.toLowerCase()}.`,
      categoryId: ctx.leaf.id,
      status: random() < 0.95 ? 'published' : 'draft',
      createdAt,
      variants,
      images,
      attributes,
      prices,
    },
    stock,
  };
}
